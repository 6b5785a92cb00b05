// cudaemu stands in for the parts of CUB the backend uses: block-wide
// reductions and scans (sequential sums over the threads' values, in thread
// order: a fixed shape, as CUB's, though not CUB's association) and the
// segmented radix sort (a stable sort of each segment on the host).
#ifndef PIC_CUDAEMU_CUB
#define PIC_CUDAEMU_CUB

#include "cub/device/device_radix_sort.cuh"

namespace cub {

// A block's values meet in TempStorage; as in CUB, the caller puts a
// __syncthreads between two uses of the same storage.
template <typename T, int THREADS> struct BlockReduce {
    struct TempStorage {
        T v[THREADS];
    };
    TempStorage &s;
    BlockReduce(TempStorage &t) : s(t) {}
    // The result is thread 0's, as CUB's.
    template <typename Op> T Reduce(T in, Op op) {
        int t = threadIdx.x;
        s.v[t] = in;
        __syncthreads();
        if (t != 0) return in;
        T r = s.v[0];
        for (int i = 1; i < THREADS; i++) r = op(r, s.v[i]);
        return r;
    }
    T Sum(T in) {
        return Reduce(in, [](T a, T b) { return a + b; });
    }
};

template <typename T, int THREADS> struct BlockScan {
    struct TempStorage {
        T v[THREADS];
    };
    TempStorage &s;
    BlockScan(TempStorage &t) : s(t) {}
    // Every thread gets the sum of the threads before it, and the total.
    void ExclusiveSum(T in, T &out, T &total) {
        int t = threadIdx.x;
        s.v[t] = in;
        __syncthreads();
        T acc = T();
        for (int i = 0; i < t; i++) acc = acc + s.v[i];
        out = acc;
        for (int i = t; i < THREADS; i++) acc = acc + s.v[i];
        total = acc;
    }
    void ExclusiveSum(T in, T &out) {
        T total;
        ExclusiveSum(in, out, total);
    }
};

struct DeviceSegmentedRadixSort {
    template <typename K, typename V, typename O>
    static cudaError_t SortPairs(void *temp, size_t &temp_bytes, const K *keys_in, K *keys_out, const V *values_in,
                                 V *values_out, int n, int segments, O begin, O end, int begin_bit = 0,
                                 int end_bit = sizeof(K) * 8, cudaStream_t s = 0, bool = false) {
        if (!temp) {
            temp_bytes = 16;
            return cudaSuccess;
        }
        if (n < 0 || segments < 0) return cudaErrorInvalidValue;
        // each segment through the device-wide sort, in stream order
        for (int g = 0; g < segments; g++) {
            emu_enqueue(s, [=]() {
                size_t b = (size_t)begin[g], e = (size_t)end[g], scratch = 0;
                if (e > b)
                    DeviceRadixSort::SortPairs(&scratch, scratch, keys_in + b, keys_out + b, values_in + b,
                                               values_out + b, (int)(e - b), begin_bit, end_bit, (cudaStream_t)0);
            });
        }
        return cudaSuccess;
    }
};

}  // namespace cub

#endif
