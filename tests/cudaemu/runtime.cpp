// cudaemu's runtime: the emulated device (its memory, streams, graphs and
// attributes) and the scheduler that runs a kernel's threads as fibers.
// include/cudaemu.h says what is emulated and what is not.
#include "cudaemu.h"

#include <pthread.h>
#include <setjmp.h>
#include <stdarg.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/mman.h>
#include <time.h>
#include <ucontext.h>
#include <unistd.h>

#include <algorithm>
#include <atomic>
#include <map>
#include <memory>
#include <mutex>
#include <vector>

// ---- ThreadSanitizer's view of the fibers (make tsan-emu) --------------------------------
// Built with -fsanitize=thread, each GPU thread's fiber is a TSan fiber,
// switched without an edge between the two, so that the only orderings
// TSan knows between a block's threads are the GPU's own: __syncthreads,
// __syncwarp, and a block's start after the host's work before it ran
// (and its end before the host's work after it; a queued launch runs when
// the host waits, so a host write into pinned memory that a kernel
// launched before it reads does not show). A read of what
// another thread wrote, or two writes, with no such barrier between them
// is then a report naming both lines, whatever order the emulator ran
// them in. The warp-wide operations (shuffles, ldmatrix, mma, wmma) wait
// for their lanes without an edge: they order no memory on a GPU. The
// scheduler's own bookkeeping, and the warp operations' scratch, are not
// the kernel's memory: TSan ignores them (quiet). Blocks run one after
// another, ordered for TSan too: a race between two blocks of a kernel
// does not show.
#if defined(__SANITIZE_THREAD__)
#include <sanitizer/tsan_interface.h>
extern "C" void AnnotateIgnoreReadsBegin(const char *, int);
extern "C" void AnnotateIgnoreReadsEnd(const char *, int);
extern "C" void AnnotateIgnoreWritesBegin(const char *, int);
extern "C" void AnnotateIgnoreWritesEnd(const char *, int);
namespace emu {
static void *tsan_fiber() { return __tsan_create_fiber(0); }
static void *tsan_current() { return __tsan_get_current_fiber(); }
static void tsan_switch(void *f) { __tsan_switch_to_fiber(f, __tsan_switch_to_fiber_no_sync); }
static void tsan_release(void *a) { __tsan_release(a); }
static void tsan_acquire(void *a) { __tsan_acquire(a); }
void quiet_begin() { AnnotateIgnoreReadsBegin(__FILE__, __LINE__), AnnotateIgnoreWritesBegin(__FILE__, __LINE__); }
void quiet_end() { AnnotateIgnoreWritesEnd(__FILE__, __LINE__), AnnotateIgnoreReadsEnd(__FILE__, __LINE__); }
}  // namespace emu
// The CPU twins' products may run on OpenBLAS's own threads, which TSan
// cannot see synchronize (the library is not instrumented): a race with
// a stack in OpenBLAS is not the kernels' business.
extern "C" const char *__tsan_default_suppressions() { return "called_from_lib:libopenblas\nrace:libopenblas\n"; }
namespace emu {
#else
namespace emu {
static void *tsan_fiber() { return NULL; }
static void *tsan_current() { return NULL; }
static void tsan_switch(void *) {}
static void tsan_release(void *) {}
static void tsan_acquire(void *) {}
#endif
// The addresses TSan's edges go through: a barrier's by its generation
// modulo 2 (a thread can be one barrier ahead of another, not two), so
// that one thread's arrival at the next barrier is not taken for this one's.
static char sync_block[2], sync_warp[32][2], sync_grid_in, sync_grid_out;
}  // namespace emu

// ---- the emulated device's figures (an H100's, unless the environment says) ----
static long env_long(const char *name, long dflt) {
    const char *e = getenv(name);
    return e && *e ? atol(e) : dflt;
}
// PIC_EMU_DEVICES=0: no GPU. PIC_EMU_SMEM_OPTIN=101376: an sm_86/89 GPU's
// shared memory, for the fallbacks it takes. PIC_EMU_MEM_MB: its memory.
static int devices() { return (int)env_long("PIC_EMU_DEVICES", 1); }
static long smem_optin() { return env_long("PIC_EMU_SMEM_OPTIN", 232448); }
static long sms() { return env_long("PIC_EMU_SMS", 132); }
static size_t total_mem() { return (size_t)env_long("PIC_EMU_MEM_MB", 16384) << 20; }

static cudaError_t last_error = cudaSuccess;
static cudaError_t fail(cudaError_t e) {
    if (e != cudaSuccess) last_error = e;
    return e;
}
static std::recursive_mutex device_lock; // one host thread on the device at a time

cudaError_t cudaGetDeviceCount(int *n) {
    *n = devices();
    return *n ? cudaSuccess : fail(cudaErrorNoDevice);
}
static thread_local int current_device; // as the runtime keeps it: a host thread's own
cudaError_t cudaGetDevice(int *d) {
    *d = current_device;
    return devices() ? cudaSuccess : fail(cudaErrorNoDevice);
}
cudaError_t cudaSetDevice(int d) {
    if (d < 0 || d >= devices()) return fail(cudaErrorInvalidValue);
    current_device = d;
    return cudaSuccess;
}

cudaError_t cudaDeviceGetAttribute(int *v, cudaDeviceAttr attr, int device) {
    if (device < 0 || device >= devices()) return fail(cudaErrorInvalidValue);
    switch (attr) {
    case cudaDevAttrMaxThreadsPerBlock: *v = 1024; break;
    case cudaDevAttrMaxSharedMemoryPerBlock: *v = 49152; break;
    case cudaDevAttrMultiProcessorCount: *v = (int)sms(); break;
    case cudaDevAttrComputeCapabilityMajor: *v = 9; break;
    case cudaDevAttrComputeCapabilityMinor: *v = 0; break;
    case cudaDevAttrMaxSharedMemoryPerBlockOptin: *v = (int)smem_optin(); break;
    default: return fail(cudaErrorInvalidValue);
    }
    return cudaSuccess;
}

cudaError_t cudaGetLastError(void) {
    cudaError_t e = last_error;
    last_error = cudaSuccess;
    return e;
}
cudaError_t cudaPeekAtLastError(void) { return last_error; }

const char *cudaGetErrorName(cudaError_t e) {
    switch (e) {
#define NAME(x)                                                                                                        \
    case x: return #x;
        NAME(cudaSuccess) NAME(cudaErrorInvalidValue) NAME(cudaErrorMemoryAllocation)
        NAME(cudaErrorInvalidConfiguration) NAME(cudaErrorInvalidDevicePointer) NAME(cudaErrorInvalidMemcpyDirection)
        NAME(cudaErrorNoDevice) NAME(cudaErrorInvalidResourceHandle) NAME(cudaErrorNotReady) NAME(cudaErrorIllegalAddress)
        NAME(cudaErrorLaunchFailure) NAME(cudaErrorStreamCaptureUnsupported) NAME(cudaErrorStreamCaptureInvalidated)
        NAME(cudaErrorStreamCaptureUnmatched)
#undef NAME
    }
    return "cudaErrorUnknown";
}
const char *cudaGetErrorString(cudaError_t e) {
    switch (e) {
    case cudaSuccess: return "no error";
    case cudaErrorInvalidValue: return "invalid argument";
    case cudaErrorMemoryAllocation: return "out of memory";
    case cudaErrorInvalidConfiguration: return "invalid configuration argument";
    case cudaErrorNoDevice: return "no CUDA-capable device is detected";
    case cudaErrorNotReady: return "device not ready";
    case cudaErrorStreamCaptureUnsupported: return "operation not permitted when stream is capturing";
    case cudaErrorStreamCaptureInvalidated: return "operation failed due to a previous error during capture";
    default: return cudaGetErrorName(e);
    }
}

// ---- memory -------------------------------------------------------------------------
// A buffer ends where an inaccessible page begins: a kernel that reads or
// writes past it faults at once. Device memory (cudaMalloc, not pinned host
// memory) is also inaccessible to the host while no device work runs, so
// host code that touches it, which a GPU would not allow, faults there.
struct mapping {
    char *base;
    size_t len, bytes;
    bool device;
    int dev; // the GPU current when it was allocated
};
static std::map<void *, mapping> buffers;
static size_t used_bytes;
// > 0 while device work (or a copy) runs; the fault handler reads it, so
// the compiler must keep each change where it is (volatile, and fenced)
static volatile int device_open_depth;

// Device buffers rest inaccessible; while device work runs, the first touch
// of one faults, and the handler opens that buffer (its body, never its
// guard page) until the work ends. Opening every buffer at every wait cost
// test_cuda_layers two minutes of mprotect. A fault anywhere else, or with
// no device work running, is the program's: it dies of it.
static bool protecting() {
    static int on = (int)env_long("PIC_EMU_PROTECT", 1);
    return on;
}
enum { MAX_OPEN = 4096 };
static char *opened[MAX_OPEN];
static size_t opened_len[MAX_OPEN];
static int n_opened;
static bool open_overflow; // more than MAX_OPEN: close every buffer
// The kernel running now and its GPU (running_dev -1: none). A kernel may touch only
// its own GPU's memory (pic enables no peer access): with more than one GPU
// in use, each kernel starts with every buffer closed, so that its first
// touch of another GPU's buffer is caught.
static const char *volatile running_kernel;
static volatile int running_dev = -1;
static unsigned devices_used; // a bit per GPU that holds a buffer
// A thread of a launch_pdl kernel runs before its cudaGridDependencySynchronize:
// on a GPU the kernel before it may still be writing, so a touch of device
// memory here is the kernel's fault (pdl_touch, below), not a buffer to open.
static volatile bool pdl_before_wait;
// The block's dynamic shared memory ends where a guard page begins
// (place_dynamic_smem, below), as a GPU's window of it ends with what the
// launch asked for: an access past it is the kernel's fault (smem_past).
static char *volatile smem_guard;
namespace emu {
[[noreturn]] static void pdl_touch(const void *a);
[[noreturn]] static void smem_past(const void *a);
}
// A kernel's fault that the handler below turns into a stop: one line to
// stderr by write(2), then abort.
[[noreturn]] __attribute__((format(printf, 1, 2))) static void stop_in_handler(const char *fmt, ...) {
    char msg[512];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(msg, sizeof msg, fmt, ap);
    va_end(ap);
    if (write(2, msg, k > 0 && k < (int)sizeof msg ? (size_t)k : sizeof msg - 1) < 0) abort();
    abort();
}

static void on_fault(int sig, siginfo_t *si, void *) {
    emu::quiet_begin(); // the emulator's bookkeeping, in a kernel's thread
    struct quiet_until_return {
        ~quiet_until_return() { emu::quiet_end(); }
    } q;
    char *a = (char *)si->si_addr;
    if (smem_guard && a >= smem_guard && a < smem_guard + sysconf(_SC_PAGESIZE)) emu::smem_past(a);
    if (device_open_depth > 0) {
        auto it = buffers.upper_bound(a);
        if (it != buffers.begin()) {
            --it;
            const mapping &m = it->second;
            size_t page = (size_t)sysconf(_SC_PAGESIZE), body = m.len - page;
            if (m.device && a >= m.base && a < m.base + body) {
                if (pdl_before_wait) emu::pdl_touch(a);
                if (running_dev >= 0 && m.dev != running_dev)
                    stop_in_handler("cudaemu: %s on GPU %d touched a buffer of GPU %d: a GPU reads only its own "
                                    "memory without peer access\n", running_kernel, running_dev, m.dev);
                mprotect(m.base, body, PROT_READ | PROT_WRITE);
                if (n_opened < MAX_OPEN) opened[n_opened] = m.base, opened_len[n_opened++] = body;
                else open_overflow = true;
                return;
            }
        }
    }
    signal(sig, SIG_DFL); // the instruction runs again and faults for good
}
static void catch_faults() {
    static bool done;
    if (done) return;
    done = true;
    struct sigaction sa = {};
    sa.sa_sigaction = on_fault;
    sa.sa_flags = SA_SIGINFO;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGSEGV, &sa, NULL);
}
static void close_device() {
    if (open_overflow) {
        size_t page = (size_t)sysconf(_SC_PAGESIZE);
        for (auto &b : buffers)
            if (b.second.device) mprotect(b.second.base, b.second.len - page, PROT_NONE);
    } else {
        for (int i = 0; i < n_opened; i++) mprotect(opened[i], opened_len[i], PROT_NONE);
    }
    n_opened = 0, open_overflow = false;
}
// The device's side of the emulator runs inside one: kernels, copies, sets.
struct device_access {
    device_access() {
        device_open_depth = device_open_depth + 1;
        std::atomic_signal_fence(std::memory_order_seq_cst);
    }
    ~device_access() {
        std::atomic_signal_fence(std::memory_order_seq_cst);
        device_open_depth = device_open_depth - 1;
        if (device_open_depth == 0 && protecting()) close_device();
    }
};

static cudaError_t allocate(void **p, size_t n, bool device) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    *p = NULL;
    if (!devices()) return fail(cudaErrorNoDevice);
    emu_trace(NULL, "%s %zu", device ? "cudaMalloc" : "cudaMallocHost", n);
    if (n == 0) return cudaSuccess;
    size_t page = (size_t)sysconf(_SC_PAGESIZE), rounded = (n + 255) / 256 * 256;
    size_t body = (rounded + page - 1) / page * page;
    if (used_bytes + rounded > total_mem()) return fail(cudaErrorMemoryAllocation);
    void *base = mmap(NULL, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE, -1, 0);
    if (base == MAP_FAILED) return fail(cudaErrorMemoryAllocation);
    mprotect((char *)base + body, page, PROT_NONE);
    if (device && protecting()) mprotect(base, body, PROT_NONE), catch_faults();
    *p = (char *)base + body - rounded;
    buffers[*p] = mapping{(char *)base, body + page, rounded, device, current_device};
    if (device) devices_used |= 1u << (current_device & 31);
    used_bytes += rounded;
    return cudaSuccess;
}
static void drain_all();
static cudaError_t release(void *p, bool device) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    if (!p) return cudaSuccess;
    emu_trace(NULL, "%s", device ? "cudaFree" : "cudaFreeHost");
    drain_all(); // cudaFree waits for the device: work queued may still use the buffer
    auto it = buffers.find(p);
    if (it == buffers.end() || it->second.device != device) return fail(cudaErrorInvalidDevicePointer);
    used_bytes -= it->second.bytes;
    munmap(it->second.base, it->second.len);
    buffers.erase(it);
    return cudaSuccess;
}
cudaError_t cudaMalloc(void **p, size_t n) { return allocate(p, n, true); }
cudaError_t cudaFree(void *p) { return release(p, true); }
cudaError_t cudaMallocHost(void **p, size_t n) { return allocate(p, n, false); }
cudaError_t cudaFreeHost(void *p) { return release(p, false); }
cudaError_t cudaMemGetInfo(size_t *free_b, size_t *total_b) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    *total_b = total_mem();
    *free_b = total_mem() - used_bytes;
    return cudaSuccess;
}
// Pinned or device memory (a buffer cudaMalloc or cudaMallocHost gave), not
// the host's pageable memory.
static bool registered(const void *p) {
    auto it = buffers.upper_bound((void *)p);
    if (it == buffers.begin()) return false;
    --it;
    return (const char *)p < (const char *)it->first + it->second.bytes;
}

// ---- streams and graphs ---------------------------------------------------------------
// Work on a stream is queued and runs only when the host waits for it, as
// late as a GPU may run it: a wait for a stream (cudaStreamSynchronize, an
// event of it), for the device (cudaDeviceSynchronize, cudaFree), or a
// blocking copy, which waits for the legacy stream and the streams that
// sync with it, not for those made cudaStreamNonBlocking. A host read of
// results it did not wait for finds them not yet written.
struct emu_graph {
    std::vector<std::function<void()>> nodes;
};
struct emu_stream {
    emu_graph *capture; // the graph being recorded, or NULL
    bool invalidated;   // a call during the capture that a GPU refuses
    bool nonblocking;   // cudaStreamNonBlocking: not ordered with the legacy stream
    int dev;            // the GPU current when it was made
};
struct emu_event {
    double t;
    bool done;
    bool nonblocking;
    cudaStream_t s;
};
struct queued {
    cudaStream_t s; // NULL: the legacy stream
    bool nonblocking;
    std::function<void()> work;
    bool done;
};
static std::vector<queued> queue;
static bool draining;

static bool capturing(cudaStream_t s) { return s && s->capture; }
static int captures; // streams being captured now

void emu_trace(cudaStream_t s, const char *fmt, ...) {
    static FILE *f;
    static bool opened;
    if (!opened) {
        opened = true;
        const char *path = getenv("PIC_EMU_TRACE");
        if (path && *path && !(f = fopen(path, "w"))) fprintf(stderr, "cudaemu: cannot write PIC_EMU_TRACE %s\n", path);
    }
    if (!f) return;
    va_list ap;
    va_start(ap, fmt);
    vfprintf(f, fmt, ap);
    va_end(ap);
    fputs(capturing(s) ? " captured\n" : "\n", f);
    fflush(f);
}

// Runs, in the order they were queued, the queued work that wait_for picks.
template <typename F> static void drain(F wait_for) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    if (draining) return;
    draining = true;
    {
        device_access open;
        for (size_t i = 0; i < queue.size(); i++)
            if (!queue[i].done && wait_for(queue[i])) {
                queue[i].done = true;
                std::function<void()> w = std::move(queue[i].work);
                w();
            }
    }
    size_t k = 0;
    for (size_t i = 0; i < queue.size(); i++)
        if (!queue[i].done) queue[k++] = std::move(queue[i]);
    queue.resize(k);
    draining = false;
}
static void drain_all() {
    drain([](const queued &) { return true; });
}
// the legacy stream's wait: its own work and that of every blocking stream
static void drain_legacy() {
    drain([](const queued &q) { return !q.nonblocking; });
}
static void drain_stream(cudaStream_t s) {
    if (!s || !s->nonblocking) drain_legacy();
    else drain([s](const queued &q) { return q.s == s; });
}

void emu_enqueue(cudaStream_t s, std::function<void()> work) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    if (capturing(s))
        s->capture->nodes.push_back(std::move(work));
    else if (draining) // work that queues more (a sort of segments): it runs in its place
        work();
    else
        queue.push_back(queued{s, s && s->nonblocking, std::move(work), false});
}

// A blocking copy waits for the legacy stream, then copies. One from the
// host's pageable memory, even cudaMemcpyAsync, reads it at once (the GPU
// stages it before returning); one into it returns when it has landed.
cudaError_t cudaMemcpy(void *dst, const void *src, size_t n, cudaMemcpyKind) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    emu_trace(NULL, "cudaMemcpy %zu (waits)", n);
    drain_legacy();
    device_access open;
    if (n) memmove(dst, src, n);
    return cudaSuccess;
}
cudaError_t cudaMemcpyAsync(void *dst, const void *src, size_t n, cudaMemcpyKind, cudaStream_t s) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    if (!n) return cudaSuccess;
    emu_trace(s, "cudaMemcpyAsync %zu%s", n,
              !registered(dst) ? " into pageable memory (waits)" : !registered(src) ? " from pageable memory" : "");
    if (!registered(dst) && !capturing(s)) { // into pageable memory: synchronous
        drain_stream(s);
        device_access open;
        memmove(dst, src, n);
    } else if (!registered(src) && !capturing(s)) { // from pageable memory: staged now
        std::shared_ptr<std::vector<char>> staged = std::make_shared<std::vector<char>>((const char *)src,
                                                                                        (const char *)src + n);
        emu_enqueue(s, [=]() { memmove(dst, staged->data(), n); });
    } else {
        emu_enqueue(s, [=]() { memmove(dst, src, n); });
    }
    return cudaSuccess;
}
cudaError_t cudaMemcpy2DAsync(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                              cudaMemcpyKind, cudaStream_t s) {
    if (width > dpitch || width > spitch) return fail(cudaErrorInvalidValue);
    emu_trace(s, "cudaMemcpy2DAsync %zu x %zu", width, height);
    emu_enqueue(s, [=]() {
        for (size_t r = 0; r < height; r++) memmove((char *)dst + r * dpitch, (const char *)src + r * spitch, width);
    });
    return cudaSuccess;
}
cudaError_t cudaMemcpy2D(void *dst, size_t dpitch, const void *src, size_t spitch, size_t width, size_t height,
                         cudaMemcpyKind kind) {
    cudaError_t e = cudaMemcpy2DAsync(dst, dpitch, src, spitch, width, height, kind, 0);
    drain_legacy();
    return e;
}
cudaError_t cudaMemsetAsync(void *p, int v, size_t n, cudaStream_t s) {
    emu_trace(s, "cudaMemsetAsync %zu", n);
    if (n) emu_enqueue(s, [=]() { memset(p, v, n); });
    return cudaSuccess;
}
// asynchronous to the host, on the legacy stream, as on a GPU
cudaError_t cudaMemset(void *p, int v, size_t n) { return cudaMemsetAsync(p, v, n, 0); }

cudaError_t cudaStreamCreate(cudaStream_t *s) { return cudaStreamCreateWithFlags(s, 0); }
cudaError_t cudaStreamCreateWithFlags(cudaStream_t *s, unsigned flags) {
    *s = new emu_stream{NULL, false, (flags & cudaStreamNonBlocking) != 0, current_device};
    return cudaSuccess;
}
cudaError_t cudaStreamDestroy(cudaStream_t s) {
    drain_stream(s); // its work completes, as on a GPU, and the queue forgets it
    if (s) delete s->capture;
    delete s;
    return cudaSuccess;
}
// A wait for a stream that is being captured: the GPU refuses it and
// spoils the capture.
static cudaError_t sync_refused(cudaStream_t s) {
    if (s) s->invalidated = true;
    return fail(cudaErrorStreamCaptureUnsupported);
}
cudaError_t cudaStreamSynchronize(cudaStream_t s) {
    emu_trace(s, "cudaStreamSynchronize");
    if (capturing(s)) return sync_refused(s);
    drain_stream(s);
    return cudaSuccess;
}
cudaError_t cudaDeviceSynchronize(void) {
    emu_trace(NULL, "cudaDeviceSynchronize");
    if (captures) return sync_refused(NULL);
    drain_all();
    return cudaSuccess;
}

cudaError_t cudaStreamBeginCapture(cudaStream_t s, cudaStreamCaptureMode) {
    emu_trace(s, "cudaStreamBeginCapture");
    if (!s || s->capture) return fail(cudaErrorInvalidValue); // the legacy stream cannot be captured
    s->capture = new emu_graph;
    s->invalidated = false;
    captures++;
    return cudaSuccess;
}
cudaError_t cudaStreamEndCapture(cudaStream_t s, cudaGraph_t *g) {
    *g = NULL;
    emu_trace(s, "cudaStreamEndCapture");
    if (!capturing(s)) return fail(cudaErrorStreamCaptureUnmatched);
    captures--;
    emu_graph *graph = s->capture;
    s->capture = NULL;
    if (s->invalidated) {
        delete graph;
        return fail(cudaErrorStreamCaptureInvalidated);
    }
    *g = graph;
    return cudaSuccess;
}
cudaError_t cudaGraphInstantiate(cudaGraphExec_t *e, cudaGraph_t g, unsigned long long) {
    if (!g) return fail(cudaErrorInvalidValue);
    emu_trace(NULL, "cudaGraphInstantiate %zu nodes", g->nodes.size());
    *e = new emu_graph(*g);
    return cudaSuccess;
}
cudaError_t cudaGraphLaunch(cudaGraphExec_t e, cudaStream_t s) {
    if (!e) return fail(cudaErrorInvalidValue);
    emu_trace(s, "cudaGraphLaunch %zu nodes", e->nodes.size());
    for (auto &node : e->nodes) emu_enqueue(s, node);
    return cudaSuccess;
}
cudaError_t cudaGraphDestroy(cudaGraph_t g) {
    delete g;
    return cudaSuccess;
}
cudaError_t cudaGraphExecDestroy(cudaGraphExec_t e) {
    delete e;
    return cudaSuccess;
}

static double now_ms(void) {
    struct timespec t;
    clock_gettime(CLOCK_MONOTONIC, &t);
    return t.tv_sec * 1e3 + t.tv_nsec / 1e6;
}
cudaError_t cudaEventCreate(cudaEvent_t *e) {
    *e = new emu_event{0, false, false, NULL};
    return cudaSuccess;
}
cudaError_t cudaEventDestroy(cudaEvent_t e) {
    delete e;
    return cudaSuccess;
}
cudaError_t cudaEventRecord(cudaEvent_t e, cudaStream_t s) {
    emu_trace(s, "cudaEventRecord");
    e->done = false, e->s = s, e->nonblocking = s && s->nonblocking;
    emu_enqueue(s, [=]() { e->t = now_ms(), e->done = true; });
    return cudaSuccess;
}
cudaError_t cudaEventSynchronize(cudaEvent_t e) {
    emu_trace(NULL, "cudaEventSynchronize");
    if (e->nonblocking) drain([e](const queued &q) { return q.s == e->s; });
    else drain_legacy();
    return cudaSuccess;
}
// the GPU's answer while either event has not happened yet
cudaError_t cudaEventElapsedTime(float *ms, cudaEvent_t a, cudaEvent_t b) {
    if (!a->done || !b->done) return fail(cudaErrorNotReady);
    *ms = (float)(b->t - a->t);
    return cudaSuccess;
}

// ---- kernel attributes ------------------------------------------------------------------
static std::map<const void *, int> max_smem;
cudaError_t emu::func_set_max_smem(const void *f, int bytes) {
    if (bytes < 0 || bytes > smem_optin()) return fail(cudaErrorInvalidValue);
    max_smem[f] = bytes;
    return cudaSuccess;
}
int emu::occupancy(int threads, size_t smem) {
    int by_threads = 2048 / (threads > 0 ? threads : 1), by_smem = (int)((233472) / (smem + 1024));
    int n = by_threads < by_smem ? by_threads : by_smem;
    return n < 32 ? n : 32;
}

// ---- the scheduler -------------------------------------------------------------------------
namespace emu {

enum fiber_state { RUNNABLE, AT_BLOCK_BARRIER, AT_WARP_BARRIER, ENDED };

struct pending_copy {
    void *dst;
    unsigned char bytes[16];
    size_t n;
    long batch;
};

struct thread_state {
    uint3 tid;
    int lane, warp;
    fiber_state state;
    bool started;
    jmp_buf resume;
    ucontext_t start;
    char *stack;
    std::vector<pending_copy> copies; // cp.async's, not yet landed
    long committed;                   // batches closed by __pipeline_commit
    bool dep_waited;                  // passed cudaGridDependencySynchronize
    void *fiber;                      // TSan's (above)
    unsigned block_gen, warp_gen;     // barriers passed, for TSan's edges
    const char *aligned_op;           // the .aligned warp operation it waits at (whole_warp)
};

thread_state *cur;
uint3 block_idx;
dim3 block_dim, grid_dim;

static const size_t kStack = 256 << 10;
static std::vector<thread_state> threads;
static std::vector<float> scratch;         // per warp: the operands of a warp-wide operation
static const size_t scratch_per_warp = 3 * 256; // an mma_sync's A, B and C
static char *dyn_smem;                     // the block's extern __shared__ array
static size_t dyn_smem_bytes;
static jmp_buf scheduler;
static const std::function<void()> *kernel_body;
static const char *kernel_name;

const uint3 &thread_idx() { return cur->tid; }
int lane() { return cur->lane; }
void *dynamic_smem() { return dyn_smem; }

// The launch's bytes, rounded to the 128 the kernels align them to, end at
// a guard page; the region is made once, as large as any launch may ask.
static void place_dynamic_smem(size_t bytes) {
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    if (!smem_guard) {
        size_t most = std::max((size_t)smem_optin(), (size_t)256 << 10), body = (most + 127 + page - 1) / page * page;
        char *m = (char *)mmap(NULL, body + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                               -1, 0);
        if (m == MAP_FAILED) {
            perror("cudaemu: shared memory");
            abort();
        }
        mprotect(m + body, page, PROT_NONE);
        catch_faults();
        smem_guard = m + body;
    }
    dyn_smem = smem_guard - (bytes + 127) / 128 * 128;
    dyn_smem_bytes = bytes;
}
static void smem_past(const void *a) {
    size_t rounded = (dyn_smem_bytes + 127) / 128 * 128;
    stop_in_handler("cudaemu: %s: thread (%u, %u, %u) of block (%u, %u, %u) touched byte %zu of its dynamic shared "
                    "memory, which the launch made %zu bytes: the GPU faults (out of range shared address)\n",
                    kernel_name, cur ? cur->tid.x : 0, cur ? cur->tid.y : 0, cur ? cur->tid.z : 0, block_idx.x,
                    block_idx.y, block_idx.z, rounded + (size_t)((const char *)a - smem_guard), dyn_smem_bytes);
}
float *warp_scratch(size_t n) {
    if (n > scratch_per_warp) {
        fprintf(stderr, "cudaemu: %s: a warp operation wants %zu floats of scratch\n", kernel_name, n);
        abort();
    }
    return scratch.data() + (size_t)cur->warp * scratch_per_warp;
}

void bad_ldmatrix(const void *p) {
    fprintf(stderr, "cudaemu: %s: ldmatrix of a row at %p, not aligned to 16 bytes\n", kernel_name, p);
    abort();
}

// Whether the running block's cp.async copies land when asked for (as a
// GPU may land them at once) rather than when waited for (as it may land
// them last): the first shows a copy into a buffer that another thread
// still reads, the second a read that did not wait.
static bool copies_early;

void async_copy(void *dst, const void *src, size_t n, size_t zfill) {
    // cp.async copies 4, 8 or 16 bytes, both addresses aligned to the size:
    // a GPU faults ("misaligned address") where a host memcpy would not
    if ((n != 4 && n != 8 && n != 16) || zfill > n) {
        fprintf(stderr, "cudaemu: %s: __pipeline_memcpy_async of %zu bytes (zero-fill %zu): 4, 8 or 16\n",
                kernel_name, n, zfill);
        abort();
    }
    if (((uintptr_t)dst | (uintptr_t)src) % n) {
        fprintf(stderr, "cudaemu: %s: __pipeline_memcpy_async of %zu bytes from %p to %p, not aligned to %zu\n",
                kernel_name, n, src, dst, n);
        abort();
    }
    if (copies_early) {
        memcpy(dst, src, n - zfill);
        memset((char *)dst + (n - zfill), 0, zfill);
        return;
    }
    pending_copy c = {dst, {0}, n, cur->committed};
    memcpy(c.bytes, src, n - zfill);
    cur->copies.push_back(c);
}
void async_commit() { cur->committed++; }
// Lands the copies of every batch but the newest `keep` committed ones (all, with keep < 0).
static void land(long keep) {
    std::vector<pending_copy> &v = cur->copies;
    size_t kept = 0;
    for (size_t i = 0; i < v.size(); i++) {
        if (keep >= 0 && v[i].batch >= cur->committed - keep) {
            v[kept++] = v[i];
            continue;
        }
        memcpy(v[i].dst, v[i].bytes, v[i].n);
    }
    v.resize(kept);
}
void async_wait(size_t newest_pending) { land((long)newest_pending); }

static void *host_fiber; // TSan's fiber of the scheduler
// sync: whether the barrier orders memory for TSan (see above)
// (No quiet region spans a switch: a forked child's new fibers start with none.)
static void yield(fiber_state s, bool sync = true) {
    quiet_begin();
    cur->state = s;
    void *edge = !sync ? NULL
                 : s == AT_BLOCK_BARRIER ? (void *)&sync_block[cur->block_gen++ % 2]
                 : s == AT_WARP_BARRIER  ? (void *)&sync_warp[cur->warp % 32][cur->warp_gen++ % 2]
                                         : (void *)&sync_grid_out;
    void *to = host_fiber;
    quiet_end();
    if (edge) tsan_release(edge);
    tsan_switch(to);
    if (!_setjmp(cur->resume)) _longjmp(scheduler, 1);
    if (edge && s != ENDED) tsan_acquire(edge);
}
void wait_block() { yield(AT_BLOCK_BARRIER); }
void wait_warp() { yield(AT_WARP_BARRIER); }
void wait_lanes() { yield(AT_WARP_BARRIER, false); }

static size_t block_threads; // the running block's
// Why lane l of warp w is not at a warp operation (NULL: it is; every lane
// still running is there once wait_lanes has released them together).
static const char *lane_absence(size_t w, size_t l) {
    size_t i = w * 32 + l;
    if (i >= block_threads) return "is past the block's threads";
    quiet_begin(); // the scheduler's states
    bool ended = threads[i].state == ENDED;
    quiet_end();
    return ended ? "has ended" : NULL;
}
void whole_warp(const char *op) {
    quiet_begin(); // the scheduler's, read when it releases the warp
    cur->aligned_op = op;
    quiet_end();
}
// The lanes of warp w waiting at a warp operation go on (the ended stay
// ended); an .aligned one (whole_warp) wants all 32 there.
static void release_warp(size_t w, size_t n) {
    const char *op = NULL;
    for (size_t i = w * 32; i < n && i < w * 32 + 32; i++)
        if (threads[i].state == AT_WARP_BARRIER && threads[i].aligned_op) op = threads[i].aligned_op;
    for (size_t l = 0; op && l < 32; l++)
        if (const char *why = lane_absence(w, l)) {
            fprintf(stderr, "cudaemu: %s, block (%u, %u, %u): %s in warp %zu, whose lane %zu %s: every lane of "
                            "the warp must execute it on a GPU\n",
                    kernel_name, block_idx.x, block_idx.y, block_idx.z, op, w, l, why);
            abort();
        }
    for (size_t i = w * 32; i < n && i < w * 32 + 32; i++)
        if (threads[i].state == AT_WARP_BARRIER) threads[i].state = RUNNABLE, threads[i].aligned_op = NULL;
}
void source_lane(int from) {
    if (const char *why = lane_absence((size_t)cur->warp, (size_t)from)) {
        fprintf(stderr, "cudaemu: %s: thread (%u, %u, %u) of block (%u, %u, %u) shuffles from lane %d, which %s: "
                        "its value is undefined on a GPU\n",
                kernel_name, cur->tid.x, cur->tid.y, cur->tid.z, block_idx.x, block_idx.y, block_idx.z, from, why);
        abort();
    }
}

// A fiber runs one GPU thread after another on its stack: between two it
// waits here, so that starting a thread is a jump, not a setcontext (whose
// signal-mask system call cost more than most threads' work).
static bool pdl_launch; // the running kernel came by launch_pdl
void grid_dependency_wait() {
    quiet_begin(); // the emulator's flags, not the kernel's memory
    pdl_before_wait = false;
    if (cur) cur->dep_waited = true;
    quiet_end();
}
static void pdl_touch(const void *a) {
    stop_in_handler("cudaemu: %s, launched by launch_pdl: thread (%u, %u, %u) of block (%u, %u, %u) touched device "
                    "memory at %p before cudaGridDependencySynchronize (pdl_begin): on a GPU the kernel before it "
                    "may still be writing there\n",
                    kernel_name, cur->tid.x, cur->tid.y, cur->tid.z, block_idx.x, block_idx.y, block_idx.z, a);
}
static void fiber_main() {
    for (;;) {
        tsan_acquire(&sync_grid_in);
        (*kernel_body)();
        if (pdl_launch && !cur->dep_waited) {
            fprintf(stderr, "cudaemu: %s, launched by launch_pdl: thread (%u, %u, %u) of block (%u, %u, %u) ended "
                            "without cudaGridDependencySynchronize (pdl_begin): on a GPU it may run before the "
                            "kernel it follows has written its input\n",
                    kernel_name, cur->tid.x, cur->tid.y, cur->tid.z, block_idx.x, block_idx.y, block_idx.z);
            abort();
        }
        land(-1); // a thread's copies complete by its end
        yield(ENDED);
    }
}

static void resume(thread_state *t) {
    cur = t;
    if (_setjmp(scheduler)) return; // the fiber waits or has ended
    bool started = t->started;
    t->started = true;
    pdl_before_wait = pdl_launch && !t->dep_waited;
    tsan_switch(t->fiber); // the host's accesses end here
    if (started) _longjmp(t->resume, 1);
    setcontext(&t->start);
}

// A forked child starts with TSan fibers of its own: the parent's do not
// order the child's accesses (a test runs kernels that must fail in one).
static void new_fibers_in_child() {
    for (thread_state &t : threads) t.fiber = tsan_fiber();
}

// Stacks for n threads, each with a guard page below it.
static void make_threads(size_t n) {
    static bool at_fork = (pthread_atfork(NULL, NULL, new_fibers_in_child), true);
    (void)at_fork;
    size_t page = (size_t)sysconf(_SC_PAGESIZE);
    while (threads.size() < n) {
        thread_state t = {};
        char *m = (char *)mmap(NULL, kStack + page, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS | MAP_NORESERVE,
                               -1, 0);
        if (m == MAP_FAILED) {
            perror("cudaemu: a fiber's stack");
            abort();
        }
        mprotect(m, page, PROT_NONE);
        t.stack = m + page;
        t.fiber = tsan_fiber();
        threads.push_back(t);
    }
}

static void deadlock(const uint3 &b) {
    fprintf(stderr, "cudaemu: %s, block (%u, %u, %u): its threads wait at different barriers (", kernel_name, b.x,
            b.y, b.z);
    const char *what[] = {"running", "__syncthreads", "a warp-wide operation", "ended"};
    size_t n = (size_t)block_dim.x * block_dim.y * block_dim.z;
    for (size_t i = 0, j; i < n; i = j) { // runs of threads in the same state
        for (j = i + 1; j < n && threads[j].state == threads[i].state;) j++;
        fprintf(stderr, "%sthreads %zu-%zu: %s", i ? ", " : "", i, j - 1, what[threads[i].state]);
    }
    fprintf(stderr, "): the GPU would hang\n");
    abort();
}

// reverse: threads (and warps) last to first. by_warp: a warp at a time,
// each until all its threads wait at __syncthreads or end, so that one
// warp is a whole phase ahead of the next (a GPU may schedule so), rather
// than every warp a step at a time.
static void run_block(size_t n, bool reverse, bool by_warp) {
    block_threads = n;
    static ucontext_t base;
    static bool have_base;
    if (!have_base) getcontext(&base), have_base = true;
    for (size_t i = 0; i < n; i++) {
        thread_state &t = threads[i];
        t.tid = uint3{(unsigned)(i % block_dim.x), (unsigned)(i / block_dim.x % block_dim.y),
                      (unsigned)(i / ((size_t)block_dim.x * block_dim.y))};
        t.lane = (int)(i % 32);
        t.warp = (int)(i / 32);
        t.state = RUNNABLE;
        t.copies.clear();
        t.committed = 0;
        t.dep_waited = false;
        t.block_gen = t.warp_gen = 0;
        t.aligned_op = NULL;
        if (!t.started) {
            t.start = base;
            t.start.uc_stack.ss_sp = t.stack;
            t.start.uc_stack.ss_size = kStack;
            t.start.uc_link = NULL;
            makecontext(&t.start, fiber_main, 0);
        }
    }
    if (dyn_smem_bytes) memset(dyn_smem, 0xff, dyn_smem_bytes); // NaN in f32 and bf16: read before written shows
    size_t warps = (n + 31) / 32;
    std::vector<int> live(warps), waiting(warps);
    for (;;) {
        for (size_t k = 0, warp = SIZE_MAX; k < n; k++) {
            thread_state *t = &threads[reverse ? n - 1 - k : k];
            if (t->state != RUNNABLE || (by_warp && warp != SIZE_MAX && (size_t)t->warp != warp)) continue;
            warp = (size_t)t->warp;
            resume(t);
        }
        size_t ended = 0, at_block = 0, runnable = 0;
        std::fill(live.begin(), live.end(), 0);
        std::fill(waiting.begin(), waiting.end(), 0);
        for (size_t i = 0; i < n; i++) {
            fiber_state s = threads[i].state;
            ended += s == ENDED;
            runnable += s == RUNNABLE;
            at_block += s == AT_BLOCK_BARRIER;
            live[i / 32] += s != ENDED;
            waiting[i / 32] += s == AT_WARP_BARRIER;
        }
        if (ended == n) return;
        bool opened = false;
        if (at_block == n - ended) { // every thread still running is at __syncthreads
            for (size_t i = 0; i < n; i++)
                if (threads[i].state == AT_BLOCK_BARRIER) threads[i].state = RUNNABLE;
            opened = true;
        }
        for (size_t w = 0; w < warps; w++)
            if (waiting[w] && waiting[w] == live[w]) {
                release_warp(w, n);
                opened = true;
            }
        if (!opened && !runnable) deadlock(block_idx);
    }
}

// A block's dynamic shared memory past 48 KB needs the kernel's opt-in
// (cudaFuncSetAttribute, MaxDynamicSharedMemorySize at least as much);
// without it the GPU refuses the launch. Checked once a launch, by its
// first thread to start.
static bool entry_checked;
void kernel_entry(const void *kernel) {
    quiet_begin(); // the emulator's flag, not the kernel's memory
    bool checked = entry_checked;
    entry_checked = true;
    quiet_end();
    if (checked) return;
    const size_t default_max = 48 << 10;
    if (dyn_smem_bytes <= default_max) return;
    auto it = max_smem.find(kernel);
    if (it != max_smem.end() && (size_t)it->second >= dyn_smem_bytes) return;
    fprintf(stderr, "cudaemu: %s launched with %zu bytes of dynamic shared memory, past the 48 KB a kernel gets "
                    "without cudaFuncSetAttribute(cudaFuncAttributeMaxDynamicSharedMemorySize) of as much (its "
                    "attribute: %d): the GPU refuses the launch\n",
            kernel_name, dyn_smem_bytes, it == max_smem.end() ? (int)default_max : it->second);
    abort();
}

void launch_bounds_exceeded(const char *kernel, long max_threads) {
    fprintf(stderr, "cudaemu: %s launched with %u x %u x %u threads a block, past its __launch_bounds__ of %ld: the GPU "
                    "refuses the launch\n", kernel, block_dim.x, block_dim.y, block_dim.z, max_threads);
    abort();
}

static cudaError_t check_config(const launch_cfg &c) {
    size_t threads_n = (size_t)c.block.x * c.block.y * c.block.z;
    if (threads_n == 0 || threads_n > 1024 || c.block.z > 64) return cudaErrorInvalidConfiguration;
    if (c.grid.x == 0 || c.grid.y == 0 || c.grid.z == 0 || c.grid.y > 65535 || c.grid.z > 65535)
        return cudaErrorInvalidConfiguration;
    if ((long)c.smem > smem_optin()) return cudaErrorInvalidValue;
    return cudaSuccess;
}

static void run_now(const launch_cfg &c, const char *name, const std::function<void()> &body) {
    size_t n = (size_t)c.block.x * c.block.y * c.block.z;
    make_threads(n);
    scratch.assign(((n + 31) / 32) * scratch_per_warp, 0.0f);
    place_dynamic_smem(c.smem);
    entry_checked = false;
    pdl_launch = c.pdl;
    kernel_body = &body;
    kernel_name = name;
    block_dim = c.block;
    grid_dim = c.grid;
    // A correct kernel gives the same result in any order of its threads
    // and whenever its cp.async copies land between ask and wait; by
    // default every other block runs last to first, and every other pair
    // of blocks runs a warp at a time to each barrier and lands its copies
    // at once (the four combinations in turn), so that a read that wants a
    // barrier before it, or a write (a copy) that wants one after the
    // reads it overwrites, shows without a run of its own.
    const char *order = getenv("PIC_EMU_ORDER"), *ahead = getenv("PIC_EMU_AHEAD");
    bool forward = order && !strcmp(order, "forward"), reverse = order && !strcmp(order, "reverse");
    bool early = ahead && !strcmp(ahead, "1"), late = ahead && !strcmp(ahead, "0");
    host_fiber = tsan_current();
    // Blocks are independent on a GPU, in any order or at once: every other
    // launch runs its grid last block first, so that two blocks writing one
    // element, or a block reading what another writes, changes a result
    // from one launch to the next (PIC_EMU_BLOCKS=forward or reverse: every
    // launch one way).
    static unsigned long launches;
    const char *blocks = getenv("PIC_EMU_BLOCKS");
    bool last_first = blocks ? !strcmp(blocks, "reverse") : launches++ % 2 == 1;
    size_t grid_n = (size_t)c.grid.x * c.grid.y * c.grid.z;
    for (size_t b = 0; b < grid_n; b++) {
        size_t g = last_first ? grid_n - 1 - b : b;
        unsigned x = (unsigned)(g % c.grid.x), y = (unsigned)(g / c.grid.x % c.grid.y),
                 z = (unsigned)(g / c.grid.x / c.grid.y);
        // for TSan: the host's work so far before the block, the block before what follows
        tsan_release(&sync_grid_in);
        quiet_begin();
        block_idx = uint3{x, y, z};
        copies_early = early || (!late && b / 2 % 2 == 1);
        // A launch_pdl kernel's first two blocks (one forward, one reversed) start with every
        // buffer closed, so that a touch before the dependency wait faults (pdl_touch) unless
        // an earlier thread already opened that buffer after its own wait.
        if (c.pdl && b < 2 && protecting()) close_device();
        run_block(n, reverse || (!forward && b % 2 == 1), !late && (early || b / 2 % 2 == 1));
        quiet_end();
        tsan_acquire(&sync_grid_out);
    }
    copies_early = false;
    pdl_before_wait = false;
    cur = NULL;
}

void run_grid(const launch_cfg &c, const char *name, std::function<void()> body) {
    std::lock_guard<std::recursive_mutex> g(device_lock);
    cudaError_t e = check_config(c);
    if (e != cudaSuccess) {
        fail(e);
        return;
    }
    int dev = current_device;
    if (c.stream && c.stream->dev != dev) {
        fprintf(stderr, "cudaemu: %s launched on a stream of GPU %d while GPU %d is current: a GPU refuses it\n",
                name, c.stream->dev, dev);
        abort();
    }
    emu_trace(c.stream, "launch %s %u,%u,%u x %u smem %zu%s", name, c.grid.x, c.grid.y, c.grid.z,
              c.block.x * c.block.y * c.block.z, (size_t)c.smem, c.pdl ? " pdl" : "");
    launch_cfg cfg = c;
    emu_enqueue(c.stream, [cfg, name, body, dev]() {
        if (devices_used & (devices_used - 1)) close_device(); // more than one GPU: see running_dev
        running_kernel = name, running_dev = dev;
        run_now(cfg, name, body);
        running_dev = -1;
    });
}

}  // namespace emu
