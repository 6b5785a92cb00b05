/* pic-update: one training step (or K off-policy optimizer steps) of a
 * checkpoint on a scored sample stream; writes the next checkpoint and one
 * JSON stats line (docs/update.md). Its command line is options.c's. */
#include <errno.h>
#include <getopt.h>
#include <libgen.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/dist.h"
#include "common/json.h"
#include "common/progress.h"
#include "common/stop.h"
#include "model/parallel.h"
#include "tokenizer/tokenizer.h"
#include "update/batch.h"
#include "update/ckpt.h"
#include "update/options.h"
#include "update/request.h"
#include "update/train.h"

static const char *const agg_names[] = {"token-mean", "seq-mean-token-mean", "seq-mean-token-sum",
                                        "seq-mean-token-sum-norm"};

/* The dtype of the checkpoint's weights (its first tensor's): the new
 * checkpoint keeps it. */
static pic_dtype weights_dtype(const char *dir, const pic_params *p) {
    pic_safetensors st;
    pic_err err;
    if (pic_st_open(&st, dir, &err)) pic_die("%s", err.msg);
    const pic_st_tensor *x = p->n_desc ? pic_st_find(&st, p->desc[0].name) : NULL;
    pic_dtype d = x && (x->dtype == PIC_DT_BF16 || x->dtype == PIC_DT_F16) ? x->dtype : PIC_DT_F32;
    pic_st_close(&st);
    return d;
}

/* The GPU's arena holds a micro-batch: the budget, or the longest sample
 * beyond it; without a budget, the largest optimizer step's tokens. */
static size_t batch_tokens(const pic_samples *b, size_t micro, int K) {
    size_t longest = 0, step = 0;
    for (int k = 0; k < K; k++) {
        size_t a, e, tok = 0;
        pic_step_slice(b->n, k, K, &a, &e);
        for (size_t i = a; i < e; i++) {
            size_t len = (size_t)(b->s[i].n_prompt + b->s[i].n_resp);
            tok += len;
            longest = len > longest ? len : longest;
        }
        step = tok > step ? tok : step;
    }
    if (!micro) return step;
    return micro > longest ? micro : longest;
}

/* The tokenizer files are copied into the new checkpoint as they are: one
 * pic-rollout would refuse (a truncated tokenizer.json, a bos_token not in
 * the vocabulary) is refused now, naming its file and field, before the
 * step, not by the next program after it. Loaded as pic-rollout loads the
 * model directory. */
static void check_tokenizer(const char *dir) {
    char *path = pic_asprintf("%s/tokenizer.json", dir);
    if (access(path, F_OK) == 0) pic_tokenizer_free(pic_tokenizer_load(dir));
    free(path);
}

static void put(json_t *o, const char *k, double v) { json_object_set_new(o, k, json_real(v)); }
static void puti(json_t *o, const char *k, long long v) { json_object_set_new(o, k, json_integer(v)); }
/* a mean over response tokens: null when there were none (every response
 * empty), which jq and a plot tell from a measured 0 */
static void put_mean(json_t *o, const char *k, double sum, size_t n) {
    json_object_set_new(o, k, n ? json_real(sum / (double)n) : json_null());
}

/* What lives across the steps of a run: one step for pic-update, one a
 * request for --serve. */
typedef struct {
    const options *o;
    pic_model model, ref;
    pic_trainer tr;
    pic_ckpt_src *src;   /* the input's config and tokenizer files */
    pic_dtype ckpt_dtype;
    int R, me;
    size_t arena;        /* on a GPU: the tokens its arena holds (0: not there yet) */
    double opened;       /* seconds reading the checkpoint and optimizer state (onto the GPU):
                            the first step's load_seconds count them */
} session;

/* Moves the model and the trainer to the GPU with an arena of tokens. */
static void to_device(session *s, size_t tokens) {
    const options *o = s->o;
    pic_err err;
    int gpu = pic_dist_local_rank(); /* each rank of a machine its own GPU */
    pic_model_opts mo = {.device = PIC_DEVICE_CUDA, .dtype = o->dtype, .max_batch_tokens = tokens, .training = true, .gpu = gpu};
    pic_model_opts ref = mo;
    ref.training = false;
    if (pic_trainer_to_device(&s->tr, o->model, &mo, o->recompute, &err)) pic_die("%s", err.msg);
    if (!o->reset) pic_optstate_load(&s->tr, o->model); /* onto the GPU, a tensor at a time */
    if (o->ref) {
        bool invariant = s->ref.batch_invariant;
        pic_model_free(&s->ref);
        if (pic_model_load(&s->ref, o->ref, &ref, &err)) pic_die("--ref: %s", err.msg);
        s->ref.batch_invariant = invariant;
    }
    s->arena = tokens;
}

static void open_session(session *s, const options *o) {
    memset(s, 0, sizeof *s);
    double t = pic_now();
    s->o = o;
    s->R = pic_dist_size(), s->me = pic_dist_rank();
    pic_err err;
    pic_atomic_dir_recover(o->model); /* a run killed while replacing it in place */
    check_tokenizer(o->model);
    /* on a GPU the weights go there once its arena's size is known
     * (to_device), a tensor at a time: here the layout, checked */
    bool gpu = o->device == PIC_DEVICE_CUDA;
    if (gpu ? pic_model_layout(&s->model, o->model, &err) : pic_model_load(&s->model, o->model, NULL, &err))
        pic_die("%s", err.msg);
    /* the generator's forward: exactly on-policy (docs/update.md); the
     * backward stays on OpenBLAS either way */
    s->model.batch_invariant = !o->fast;
    if (o->ref) {
        if (gpu ? pic_model_layout(&s->ref, o->ref, &err) : pic_model_load(&s->ref, o->ref, NULL, &err))
            pic_die("--ref: %s", err.msg);
        s->ref.batch_invariant = !o->fast;
        if (s->ref.cfg.vocab_size != s->model.cfg.vocab_size)
            pic_die("--ref %s: vocabulary %d differs from the model's %d", o->ref, s->ref.cfg.vocab_size,
                    s->model.cfg.vocab_size);
    }
    pic_trainer_init(&s->tr, &s->model, &o->tc);
    s->tr.ref = o->ref ? &s->ref : NULL;
    /* on a GPU the state is loaded once the model is there (to_device); a
     * bad file is refused now, before the samples are read */
    if (!o->reset && o->device == PIC_DEVICE_CUDA) pic_optstate_check(&s->model.params, o->model);
    if (!o->reset && o->device != PIC_DEVICE_CUDA) pic_optstate_load(&s->tr, o->model);
    s->ckpt_dtype = weights_dtype(o->model, &s->model.params);
    s->src = pic_ckpt_src_read(o->model);
    if (o->recompute && o->device == PIC_DEVICE_CPU) pic_model_recompute(&s->model, true);
    s->opened = pic_now() - t;
}

static void close_session(session *s) {
    pic_trainer_free(&s->tr);
    pic_ckpt_src_free(s->src);
    if (s->o->ref) pic_model_free(&s->ref);
    pic_model_free(&s->model);
}

/* The longest sample of b, for the message of one the GPU's arena cannot hold. */
static const pic_sample *longest_sample(const pic_samples *b) {
    const pic_sample *x = b->s;
    for (size_t i = 1; i < b->n; i++)
        if (b->s[i].n_prompt + b->s[i].n_resp > x->n_prompt + x->n_resp) x = &b->s[i];
    return x;
}

/* --serve's last checkpoint, for a failure's exit (serve_die). */
static struct {
    session *s;
    const pic_request *last;
    long step; /* the trainer's optimizer steps when `last` was written */
    pthread_t thread; /* the server's: a worker's failure leaves it mid-step */
} served;

/* Dies unless the gradients' file grads can be written and kept: the
 * checkpoint output replaces the directory there whole, so a file inside it
 * (written first, into the old one) went with it, the run saying nothing. */
static void check_grads_path(const char *grads, const char *output) {
    pic_atomic_check(grads);
    char *copy = pic_strdup(grads);
    char *dir = realpath(dirname(copy), NULL), *out = realpath(output, NULL);
    size_t n = out ? strlen(out) : 0;
    if (dir && out && !strncmp(dir, out, n) && (dir[n] == '/' || !dir[n]))
        pic_die("%s: the gradients' file is inside %s, the checkpoint written whole in place of the one there: it "
                "would go with the one replaced; save it outside",
                grads, output);
    free(copy), free(dir), free(out);
}

/* One training step (K optimizer steps) on the request's samples: writes its
 * checkpoint and prints its stats line. For pic-update (serve false) the
 * line comes before the checkpoint is renamed into place: a run that could
 * not write it (a full disk, a closed pipe) dies and commits no checkpoint,
 * so that a driver never finds a NEXT whose step it has no record of. For
 * --serve, whose process goes on, the line is the answer that the
 * checkpoint is in place, so it comes after. False when a stop signal gave
 * the step up before it changed anything (--serve): no checkpoint, no line. */
static bool train_request(session *s, const pic_request *rq, bool serve) {
    const options *o = s->o;
    int me = s->me;
    pic_trainer *tr = &s->tr;
    /* a server's wait for its first request is no step's time */
    double t0 = pic_now() - s->opened;
    s->opened = 0;
    if (serve) pic_atomic_dir_check(rq->output); /* before the step, not at its end (main checks --output) */
    /* and the gradients' file: under --serve a step that moved the weights
     * and then failed there left the last weights-only checkpoint unresumable */
    if (rq->save_grads && me == 0) check_grads_path(rq->save_grads, rq->output);
    pic_samples b = {0};
    pic_read_opts ro = {!o->sft, !o->sft, s->model.cfg.vocab_size, s->model.cfg.max_position,
                        !o->sft && !o->temperature};
    if (rq->n_samples == 0) pic_samples_read(&b, NULL, &ro);
    for (int i = 0; i < rq->n_samples; i++) pic_samples_read(&b, rq->samples[i], &ro);
    if (ro.agree_temperature) pic_samples_agree_temperature(&b);
    size_t lone = o->sft ? 0 : pic_samples_drop_lone(&b, &o->adv, me == 0);
    if (b.n == 0) pic_die_no_records(rq->n_samples, rq->samples, "samples to train on");
    if (!o->sft) pic_samples_advantages(&b, &o->adv);
    size_t n_read = b.n;
    if (o->adv.mode == PIC_ADV_NSR || o->adv.mode == PIC_ADV_PSR) pic_samples_keep_class(&b, o->adv.mode == PIC_ADV_PSR);
    tr->cfg.temperature = (float)(o->temperature ? o->temperature : o->sft || !b.temperature ? 1.0 : b.temperature);
    if ((size_t)o->mini_batches > n_read) pic_die("--mini-batches %d: only %zu samples", o->mini_batches, n_read);
    /* NSR / PSR keep one class: a step may have fewer samples than K, or none
     * (then no optimizer step is taken and NEXT is DIR's state) */
    int K_steps = (size_t)o->mini_batches > b.n ? (int)b.n : o->mini_batches;
    if (b.n < n_read) pic_info("%s: %zu of %zu samples kept", o->adv.mode == PIC_ADV_NSR ? "nsr" : "psr", b.n, n_read);
    if (o->device == PIC_DEVICE_CUDA) {
        size_t need = batch_tokens(&b, o->tc.micro_tokens, K_steps ? K_steps : 1);
        if (!s->arena) {
            to_device(s, need);
        } else if (need > s->arena) {
            const pic_sample *x = longest_sample(&b);
            pic_die("%s:%zu: a sample of %d tokens, longer than the %zu-token micro-batch (--micro-tokens) that the "
                    "GPU's arena holds; --serve sizes it once, at start: raise --micro-tokens",
                    x->file, x->line, x->n_prompt + x->n_resp, s->arena);
        }
    }
    pic_trainer_reserve(tr, b.s, b.n, K_steps);
    double t_loaded = pic_now(); /* weights, samples and optimizer state in place */

    /* the request's alpha (or command) replaces the command line's */
    tr->cfg.loss.alpha = rq->alpha_set ? rq->alpha : o->tc.loss.alpha;
    const char *alpha_cmd = rq->alpha_cmd ? rq->alpha_cmd : rq->alpha_set ? NULL : o->alpha_cmd;
    pic_coproc co;
    tr->ask_alpha = alpha_cmd != NULL;
    tr->alpha_cmd = NULL;
    if (alpha_cmd && me == 0) pic_coproc_start(&co, alpha_cmd), tr->alpha_cmd = &co;

    /* K slices of the samples in stream order, as equal as can be */
    pic_step_stats tot = {0};
    double sum_loss = 0, sum_gn = 0, sum_alpha = 0, sum_lr = 0, sum_ec = 0;
    json_t *steps = json_array();
    size_t mpt_steps = 0;
    double first_diff = -1; /* the first optimizer step's, the on-policy one */
    for (int k = 0; k < K_steps; k++) {
        size_t a, e;
        pic_step_slice(b.n, k, K_steps, &a, &e);
        pic_step_stats st;
        /* a stop signal may give the request up until its first optimizer step */
        tr->stoppable = serve && s->R == 1 && k == 0;
        pic_train_step(tr, b.s + a, e - a, true, &st);
        tr->stoppable = false;
        if (st.stopped) {
            if (tr->alpha_cmd) pic_coproc_finish(&co);
            tr->alpha_cmd = NULL;
            json_decref(steps);
            pic_samples_free(&b);
            pic_info("%s: the step of the request on line %zu given up (%s not written)%s%s",
                     pic_stop_name(pic_stop_signal()), rq->line, rq->output, pic_die_note ? "; " : "",
                     pic_die_note ? pic_die_note : "");
            pic_die_note = NULL;
            return false;
        }
        pic_loss_stats_add(&tot.ls, &st.ls);
        sum_loss += st.ls.loss, sum_gn += st.grad_norm, sum_alpha += st.alpha, sum_lr += st.lr;
        sum_ec += st.entropy_coef, mpt_steps += st.mpt_masking;
        tot.n_micro += st.n_micro, tot.prepass |= st.prepass;
        if (k == 0) first_diff = st.logp_diff_max;
        json_t *j = json_object();
        put(j, "loss", st.ls.loss);
        put(j, "alpha", st.alpha);
        put_mean(j, "entropy", st.ls.entropy_sum, st.ls.tokens);
        put(j, "grad_norm", st.grad_norm);
        put(j, "lr", st.lr);
        /* the weight of its entropy and rates in the line's token-means */
        puti(j, "tokens", (long long)st.ls.tokens);
        json_array_append_new(steps, j);
    }
    if (tr->alpha_cmd) pic_coproc_finish(&co);
    tr->alpha_cmd = NULL;
    double t_trained = pic_now();
    if (rq->save_grads) pic_grads_save(tr, rq->save_grads);
    char *next = pic_ckpt_write(tr, s->src, rq->output, s->ckpt_dtype, o->max_shard, rq->state);

    double secs = pic_now() - t0, K = K_steps ? K_steps : 1;
    size_t nt = tot.ls.tokens;
    size_t all_tokens = 0;
    for (size_t i = 0; i < b.n; i++) all_tokens += (size_t)(b.s[i].n_prompt + b.s[i].n_resp);
    json_t *j = json_object();
    puti(j, "step", tr->step);
    put(j, "loss", sum_loss / K);
    put(j, "pg_loss", tot.ls.pg_loss / K);
    put_mean(j, "entropy", tot.ls.entropy_sum, nt);
    put(j, "alpha", sum_alpha / K);
    put(j, "entropic_loss", tot.ls.entropic / K);
    put_mean(j, "clipfrac_low", (double)tot.ls.clipped_low, nt);
    put_mean(j, "clipfrac_high", (double)tot.ls.clipped_high, nt);
    put_mean(j, "clipfrac_dual", (double)tot.ls.dual_clipped, nt);
    put_mean(j, "hi_frac", (double)tot.ls.hi, nt);
    put_mean(j, "approx_kl", tot.ls.approx_kl_sum, nt);
    put(j, "grad_norm", sum_gn / K);
    put(j, "lr", sum_lr / K);
    if (o->ref) put(j, "kl_loss", tot.ls.kl_loss / K);
    if (o->tc.aec || o->tc.loss.entropy_coef) put(j, "entropy_coef", sum_ec / K);
    if (o->tc.loss.kind == PIC_PG_CLIP_COV || o->tc.loss.kind == PIC_PG_KL_COV)
        puti(j, "cov_selected", (long long)tot.ls.selected);
    if (o->tc.aec) put(j, "aec_next_coef", tr->aec_coef);
    /* each mask's own count: both said the union when both were on */
    if (o->tc.dmmpt)
        puti(j, "mpt_masked", (long long)tot.ls.masked_mpt), puti(j, "mpt_masking_steps", (long long)mpt_steps);
    if (o->tc.loss.mask_quadrant) puti(j, "quadrant_masked", (long long)tot.ls.masked_quadrant);
    if (b.n < n_read) puti(j, "sequences_dropped", (long long)(n_read - b.n));
    if (lone) puti(j, "groups_dropped", (long long)lone);
    if (first_diff >= 0) put(j, "logp_diff_max", first_diff);
    puti(j, "sequences", (long long)b.n);
    puti(j, "tokens", (long long)tot.ls.tokens);
    puti(j, "tokens_total", (long long)all_tokens);
    puti(j, "micro_batches", (long long)tot.n_micro);
    put(j, "tokens_per_s", secs > 0 ? (double)all_tokens / secs : 0);
    put(j, "seconds", secs);
    /* what a step costs outside the arithmetic (docs/gpu.md): reading the
     * checkpoint, the samples and the optimizer state (onto the GPU), and
     * writing the next */
    put(j, "load_seconds", t_loaded - t0);
    put(j, "save_seconds", secs - (t_trained - t0));
    json_object_set_new(j, "device", json_string(pic_device_name(s->model.device)));
    json_object_set_new(j, "dtype", json_string(pic_model_dtype_name(s->model.dtype)));
    /* --fast trades exact on-policy away, and says so (DESIGN.md), with
     * pic-model-bench's key */
    json_object_set_new(j, "products", json_string(o->fast ? "fast" : "exact"));
    /* the aggregation used, SFT's too: "sft" there hid a --loss-agg that
     * made its loss a mean over sequences, not the token-mean NLL */
    json_object_set_new(j, "loss_agg", json_string(agg_names[o->tc.loss.agg]));
    if (serve) json_object_set_new(j, "optimizer_state", json_boolean(rq->state));
    if (s->R > 1) {
        puti(j, "ranks", s->R);
        put(j, "comm_seconds", pic_dist_comm_seconds());
        put(j, "wait_seconds", pic_dist_wait_seconds());
    }
    if (K_steps > 1) json_object_set_new(j, "steps", steps);
    else json_decref(steps);
    if (serve) {
        pic_ckpt_commit(next, rq->output);
        /* in place, it is the last checkpoint: an answer that cannot be
         * written (a full disk, a driver gone) fails with the weights its
         * own, so a weights-only one gets its state before the exit */
        served.last = rq, served.step = tr->step;
    }
    if (me == 0) { /* one stats line for the job */
        pic_print_json_line(j);
        if (serve && fflush(stdout) != 0) pic_stdout_write_error(errno);
        if (!serve) pic_stdout_close();
        pic_note_bad_records();
        if (lone)
            pic_info("%zu GRPO group%s dropped, left with one sample by skipped records (--skip-bad)", lone,
                     lone == 1 ? "" : "s");
    }
    json_decref(j);
    pic_bad_records = 0; /* a server's next request counts its own */
    if (!serve) pic_ckpt_commit(next, rq->output);
    pic_info("%zu samples, %zu response tokens, %d optimizer step%s to step %ld on %s (%s%s), %.2f s -> %s%s", b.n,
             (size_t)tot.ls.tokens, K_steps, K_steps != 1 ? "s" : "", tr->step, pic_device_name(s->model.device),
             pic_model_dtype_name(s->model.dtype), o->fast ? ", fast" : "", secs, rq->output,
             rq->state ? "" : " (weights only)");
    pic_samples_free(&b);
    pic_die_note = NULL; /* the step is whole: a failure from here on is not its */
    return true;
}

/* pic_die's hook under --serve: a request that fails ends the server, and
 * the last checkpoint, written without its optimizer state, gets it as at
 * the end of the requests, if the failure came before the request's first
 * optimizer step (the weights are still that checkpoint's). */
static void serve_die(void) {
    session *s = served.s;
    const pic_request *last = served.last;
    if (!last->output || last->state || !pthread_equal(pthread_self(), served.thread)) return;
    if (s->R == 1 && s->tr.step == served.step) {
        pic_ckpt_commit(pic_ckpt_write(&s->tr, s->src, last->output, s->ckpt_dtype, s->o->max_shard, true),
                        last->output);
        pic_info("%s written again with its optimizer state before the exit", last->output);
    } else {
        pic_warn("%s keeps no optimizer state (%s): resume from it with --reset-optimizer, or from the last checkpoint "
                 "with its state",
                 last->output,
                 s->R > 1 ? "ranks cannot wait for each other in a failure" : "the failed step had changed the weights");
    }
}

/* --serve: a step a request until the end of standard input, or a stop
 * signal (SIGINT, SIGTERM, SIGHUP: common/stop.h), which also gives up a
 * step not yet past its first optimizer step. Either way the last
 * checkpoint gets the optimizer state: when its request asked for the
 * weights only, it is written again, whole. Returns the signal, or 0. */
static int serve(session *s) {
    const options *o = s->o;
    double t = pic_now();
    if (o->device == PIC_DEVICE_CUDA) to_device(s, o->tc.micro_tokens);
    s->opened += pic_now() - t;
    pic_stop_catch(); /* loaded: from now on a signal lets the state be saved */
    /* an answer to a closed pipe fails as a full disk does (serve_die
     * saves the state), instead of killing the server without it */
    signal(SIGPIPE, SIG_IGN);
    pic_info("serving: a JSON request a line on standard input (docs/update.md)");
    pic_request rq, last = {0};
    served.s = s;
    served.last = &last;
    served.step = s->tr.step;
    served.thread = pthread_self();
    pic_die_hook = serve_die;
    while (pic_request_next(&rq)) {
        for (int i = 0; i < rq.n_samples; i++)
            if (!strcmp(rq.samples[i], "-"))
                pic_die("standard input, request on line %zu: field 'samples': '-' is standard input, which carries "
                        "the requests: name a file",
                        rq.line);
        if (o->sft && (rq.alpha_set || rq.alpha_cmd))
            pic_die("standard input, request on line %zu: field '%s': --loss sft takes no alpha", rq.line,
                    rq.alpha_set ? "alpha" : "alpha_cmd");
        if (!train_request(s, &rq, true)) {
            pic_request_free(&rq);
            break;
        }
        pic_request_free(&last);
        last = rq;
        served.last = &last;
    }
    pic_die_hook = NULL;
    int sig = pic_stop_signal();
    pic_dist_broadcast(&sig, sizeof sig, 0); /* the job stops as rank 0 does */
    const char *why = sig ? pic_stop_name(sig) : "end of requests";
    if (last.output && !last.state) {
        pic_ckpt_commit(pic_ckpt_write(&s->tr, s->src, last.output, s->ckpt_dtype, o->max_shard, true), last.output);
        pic_info("%s: %s written again with its optimizer state", why, last.output);
    } else if (sig) {
        pic_info("%s: stopped%s%s", why, last.output ? "; the last checkpoint, with its state: " : "",
                 last.output ? last.output : "");
    }
    pic_request_free(&last);
    if (s->me == 0) pic_stdout_close();
    return sig;
}

int main(int argc, char **argv) {
    pic_init("pic-update");
    options o = {.mini_batches = 1, .adv = {PIC_ADV_GRPO, true, 0.1}, .max_shard = (size_t)5e9};
    pic_loss_defaults(&o.tc.loss);
    pic_adamw_defaults(&o.tc.opt);
    o.tc.max_grad_norm = 1.0;
    /* Skywork-OR1's published AEC recipe */
    o.tc.aec_delta = 1e-4, o.tc.aec_max = 0.005, o.tc.aec_init = 0;
    update_parse_options(&o, argc, argv);
    if (o.serve && optind < argc)
        pic_usage_error("--serve reads the samples' FILEs from its requests on standard input, not from arguments");
    pic_dist_init(NULL, NULL);
    int R = pic_dist_size(), me = pic_dist_rank();
    /* "-" anywhere among the FILEs: rank 0 alone would read its records */
    bool stdin_file = optind >= argc;
    for (int i = optind; i < argc; i++) stdin_file |= !strcmp(argv[i], "-");
    if (!o.serve && R > 1 && stdin_file)
        pic_usage_error("%d ranks need the sample FILEs: the launcher gives standard input to rank 0 only", R);
    if (me > 0) pic_quiet = 1;
    /* AUTO resolves here, so that what the CPU cannot do is a usage error
     * (several ranks train on the CPU unless --device cuda says otherwise:
     * their GPU path has not yet run on GPUs) */
    if (o.device == PIC_DEVICE_AUTO) o.device = R > 1 ? PIC_DEVICE_CPU : pic_device_resolve(PIC_DEVICE_AUTO);
    o.tc.device = o.device;
    if (o.device == PIC_DEVICE_CPU && o.dtype == PIC_DTYPE_BF16)
        pic_usage_error("--dtype bf16: the CPU computes in f32 only");
    if (o.serve && o.device == PIC_DEVICE_CUDA && !o.tc.micro_tokens)
        pic_usage_error("--serve on a GPU needs --micro-tokens N: the GPU's arena is sized once, at start, for a "
                        "micro-batch of N tokens");
    pic_set_threads(o.threads ? o.threads : pic_dist_threads());

    session s;
    int stopped_by = 0;
    if (!o.serve) pic_atomic_dir_check(o.output); /* before loading, not after it */
    open_session(&s, &o);
    if (o.serve) {
        stopped_by = serve(&s);
    } else {
        pic_request rq = {.samples = argv + optind, .n_samples = argc - optind, .output = (char *)o.output,
                          .state = true, .save_grads = (char *)o.grads};
        /* "-" alone is standard input, as no FILE is */
        if (rq.n_samples == 1 && !strcmp(rq.samples[0], "-")) rq.n_samples = 0;
        train_request(&s, &rq, false);
    }
    close_session(&s);
    pic_dist_finish();
    /* its state saved, a server told to stop dies of the signal, as told */
    if (stopped_by) pic_stop_die(stopped_by);
    return 0;
}
