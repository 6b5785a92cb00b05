/* pictl: the EntroPIC PI controller as a filter. Entropy values in, one alpha
 * per value out; with --state the controller's memory (step, integral,
 * previous measurement) survives between invocations, so that a training
 * pipeline can call it once per step. `pictl simulate` runs it in closed loop
 * against the paper's linear entropy model (simulate.c). */
#include <ctype.h>
#include <errno.h>
#include <float.h>
#include <getopt.h>
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

#include "common/atomic.h"
#include "common/cli.h"
#include "common/json.h"
#include "common/stream.h"
#include "common/utf8.h"
#include "pictl/pictl.h"

static const char usage[] =
    "Usage: pictl [OPTION]... [FILE]...\n"
    "       pictl simulate [OPTION]...\n"
    "The EntroPIC entropy controller (arXiv 2511.15248). Reads one entropy value\n"
    "per line (from the FILEs, or standard input when none or '-'): a number, or a\n"
    "JSON object holding it in a field. Blank lines are skipped. Writes one alpha\n"
    "per line, flushed at once (pictl can run as a coprocess).\n"
    "\n"
    "The law, in the official code's order, with e_t = H_t - target(t):\n"
    "  alpha_t = clip(Kp*e_t + Ki*I_{t-1} + Kd*(H_t - H_{t-1}), alpha_min, alpha_max)\n"
    "  I_t     = I_{t-1} + e_t                           (I_{-1} = 0, steps from 0)\n"
    "Positive alpha (entropy above target) is what lowers entropy.\n"
    "\n"
    "Controller (both modes):\n"
    "      --kp X               proportional gain (default 1)\n"
    "      --ki X               integral gain (default 0.01; 0 is the P controller)\n"
    "      --kd X               derivative gain on the measured entropy, not the\n"
    "                           error, so target changes do not kick (default 0)\n"
    "      --target H           constant entropy target, >= 0 (default 0.1)\n"
    "      --target-schedule S  piecewise-linear target over steps, constant before\n"
    "                           the first and after the last point:\n"
    "                           'STEP:VALUE,STEP:VALUE,...', or @FILE with one\n"
    "                           'STEP VALUE' (or STEP:VALUE) per line, '#' comments;\n"
    "                           values >= 0\n"
    "      --alpha-min X        lower clip of alpha (default -1)\n"
    "      --alpha-max X        upper clip of alpha (default 1)\n"
    "      --anti-windup        conditional integration: do not add e_t to the\n"
    "                           integral while alpha is clipped and e_t pushes further\n"
    "                           into the clip (the paper has none; off by default;\n"
    "                           needs --ki above 0)\n"
    "\n"
    "Streaming mode:\n"
    "      --field NAME         the JSON field holding the entropy (default\n"
    "                           'entropy'; 'a.b' reaches into nested objects)\n"
    "      --json               write objects: step, entropy, target, error, p (Kp*e),\n"
    "                           i (Ki*I_{t-1}), integral (I_t), alpha, saturated, and\n"
    "                           d when --kd is not 0\n"
    "      --state FILE         keep step, integral and the last entropy in FILE (JSON)\n"
    "                           across invocations. A missing FILE starts at step 0;\n"
    "                           a corrupt one is an error. FILE is replaced atomically\n"
    "                           at the end, and left as it was when pictl fails\n"
    "      --reset              with --state: ignore FILE's contents and start over\n"
    "\n"
    "Simulate mode: the plant H_{k+1} = H_k - C0*alpha_k + D (+ noise), that is\n"
    "e_{k+1} = e_k - C0*alpha_k + D for a constant target. Prints the trajectory as\n"
    "JSON lines (the --json objects), then one summary object with \"summary\":true:\n"
    "the eigenvalues and spectral radius of the loop pictl runs (\"stable\"), those of\n"
    "the paper's appendix matrix [[1-C0*Kp, -C0*Ki], [1-C0*Kp, 1-C0*Ki]] (which\n"
    "integrates e_t before computing alpha_t, and has no D term: \"paper_stable\"),\n"
    "the steady-state error the theorems predict (D/(C0*Kp) for P control, 0 for\n"
    "PI), the final error, and the count of saturated steps. The verdict also goes\n"
    "to standard error.\n"
    "      --c0 X               plant gain C0 > 0 (default 0.5)\n"
    "      --drift D            constant drift per step (default 0)\n"
    "      --h0 H               initial entropy (default 0.5)\n"
    "      --steps N            steps to run (default 200)\n"
    "      --noise S            add Gaussian noise of standard deviation S per step\n"
    "                           (default 0)\n"
    "      --seed N             seed of the noise (default 1; needs --noise)\n"
    "      --summary            print only the summary object\n"
    "  -q, --quiet              no verdict on standard error\n"
    "\n"
    "  -h, --help               this help\n"
    "      --version            the version\n"
    "\n"
    "Exit status: 0 success, 1 bad input or I/O error (the message names the file\n"
    "and line), 2 usage error.\n"
    "\n"
    "Examples:\n"
    "  printf '0.2\\n0.15\\n0.05\\n' | pictl             # 0.1 0.05099999999999999 -0.0485\n"
    "  jq -c '{entropy}' stats.jsonl | pictl --state ctl.json --json\n"
    "  pictl simulate --ki 0 --drift 0.01 --summary | jq .final_error\n";

enum {
    OPT_KP = 256, OPT_KI, OPT_KD, OPT_TARGET, OPT_SCHEDULE, OPT_AMIN, OPT_AMAX, OPT_ANTI_WINDUP,
    OPT_FIELD, OPT_JSON, OPT_STATE, OPT_RESET, OPT_C0, OPT_DRIFT, OPT_H0, OPT_STEPS, OPT_NOISE,
    OPT_SEED, OPT_SUMMARY, OPT_VERSION,
};

static const struct option long_opts[] = {
    {"kp", required_argument, 0, OPT_KP},
    {"ki", required_argument, 0, OPT_KI},
    {"kd", required_argument, 0, OPT_KD},
    {"target", required_argument, 0, OPT_TARGET},
    {"target-schedule", required_argument, 0, OPT_SCHEDULE},
    {"alpha-min", required_argument, 0, OPT_AMIN},
    {"alpha-max", required_argument, 0, OPT_AMAX},
    {"anti-windup", no_argument, 0, OPT_ANTI_WINDUP},
    {"field", required_argument, 0, OPT_FIELD},
    {"json", no_argument, 0, OPT_JSON},
    {"state", required_argument, 0, OPT_STATE},
    {"reset", no_argument, 0, OPT_RESET},
    {"c0", required_argument, 0, OPT_C0},
    {"drift", required_argument, 0, OPT_DRIFT},
    {"h0", required_argument, 0, OPT_H0},
    {"steps", required_argument, 0, OPT_STEPS},
    {"noise", required_argument, 0, OPT_NOISE},
    {"seed", required_argument, 0, OPT_SEED},
    {"summary", no_argument, 0, OPT_SUMMARY},
    {"quiet", no_argument, 0, 'q'},
    {"help", no_argument, 0, 'h'},
    {"version", no_argument, 0, OPT_VERSION},
    {0, 0, 0, 0},
};

/* Which mode an option belongs to, for a clear usage error when it is given
 * to the other one (silently ignoring it would be worse). */
static const char *stream_only[] = {"field", "json", "state", "reset", NULL};
static const char *sim_only[] = {"c0", "drift", "h0", "steps", "noise", "seed", "summary", "quiet",
                                 NULL};

static bool listed(const char *const *list, const char *name) {
    for (; *list; list++)
        if (!strcmp(*list, name)) return true;
    return false;
}

/* ---- the state file ---- */

/* Two calls on one state file must not both start from the same step (one
 * run lost 107 of 400 updates): each holds an exclusive lock on the file
 * from reading it to replacing it, and the lock goes with the process. The
 * replacement is a new file renamed over the old, so a call that waited on
 * the old one locks again whatever the name now holds. A missing file is
 * created empty to be locked: an empty file is a run's first call. */
static void lock_state(const char *path) {
    for (;;) {
        int fd = open(path, O_RDONLY | O_CREAT | O_CLOEXEC, 0644);
        if (fd < 0) pic_die("%s: %s", path, strerror(errno));
        if (flock(fd, LOCK_EX) != 0) pic_die("%s: cannot lock: %s", path, strerror(errno));
        struct stat held, now;
        if (fstat(fd, &held) == 0 && stat(path, &now) == 0 && held.st_ino == now.st_ino && held.st_dev == now.st_dev)
            return; /* fd stays open: the lock lasts until exit */
        close(fd);
    }
}

static void load_state(const char *path, pic_ctl_state *st) {
    struct stat sb;
    memset(st, 0, sizeof *st);
    if (stat(path, &sb) != 0) pic_die("%s: %s", path, strerror(errno));
    if (sb.st_size == 0) return; /* the first call of a run */
    size_t len;
    char *text = pic_read_file(path, &len);
    json_error_t jerr;
    /* a key given twice would leave which value counts to the JSON reader */
    json_t *root = pic_json_loadb(text, len, JSON_REJECT_DUPLICATES, &jerr);
    free(text);
    /* A corrupt file is never taken for a fresh start: resetting the integral
     * silently would change the training run's alphas without a trace. */
    const char *why = NULL;
    json_t *v;
    if (!root) {
        pic_die("%s: corrupt state file (line %d: %s); --reset starts over", path, jerr.line,
                jerr.text);
    } else if (!json_is_object(root)) {
        why = "not a JSON object";
    } else if (!json_is_integer(v = json_object_get(root, "pictl_state")) ||
               json_integer_value(v) != 1) {
        why = "'pictl_state' is not 1";
    } else if (!json_is_integer(v = json_object_get(root, "step")) || json_integer_value(v) < 0 ||
               json_integer_value(v) > (json_int_t)1 << 53) {
        /* 2^53: exact in every JSON reader, and far from the counter's overflow */
        why = "'step' is not an integer in [0, 2^53]";
    } else {
        st->step = json_integer_value(v);
        v = json_object_get(root, "integral");
        if (!json_is_number(v) || !isfinite(json_number_value(v))) {
            why = "'integral' is not a finite number";
        } else {
            st->integral = json_number_value(v);
            v = json_object_get(root, "prev_entropy");
            if (v && !json_is_null(v)) {
                if (!json_is_number(v) || !isfinite(json_number_value(v)) || json_number_value(v) < 0)
                    why = "'prev_entropy' is not a finite number >= 0 or null";
                st->has_prev = true;
                st->prev_entropy = json_number_value(v);
            }
        }
    }
    json_decref(root);
    if (why) pic_die("%s: corrupt state file (%s); --reset starts over", path, why);
}

static void save_state(const char *path, const pic_ctl_state *st, const pic_ctl_out *last) {
    /* %.17g rather than the stream serializer: the integral must come back
     * bit for bit, whatever its value. */
    char prev[40] = "null", alpha[40] = "null";
    if (st->has_prev) snprintf(prev, sizeof prev, "%.17g", st->prev_entropy);
    if (last) snprintf(alpha, sizeof alpha, "%.17g", last->alpha);
    char *text = pic_asprintf("{\"pictl_state\":1,\"step\":%lld,\"integral\":%.17g,"
                              "\"prev_entropy\":%s,\"last_alpha\":%s}\n",
                              st->step, st->integral, prev, alpha);
    if (pic_write_file_atomic(path, text, strlen(text)) != 0)
        pic_die("%s: cannot write the state: %s", path, strerror(errno));
    free(text);
}

/* ---- input ---- */

/* The field, or with dots in the name (and no such literal key) the path
 * through nested objects; a path with an empty part ("a..b", ".a") names
 * nothing, not the path without it. */
static json_t *lookup(json_t *obj, const char *field) {
    json_t *v = json_object_get(obj, field);
    if (v || !strchr(field, '.')) return v;
    char *copy = pic_strdup(field), *rest = copy;
    v = obj;
    for (char *part; v && (part = strsep(&rest, "."));)
        v = *part && json_is_object(v) ? json_object_get(v, part) : NULL;
    free(copy);
    return v;
}

/* Parses one non-blank line into an entropy; dies naming file and line
 * (malformed JSON also the column on the line as read, as every reader
 * does: s starts after column0 blanks). A number is decimal, as JSON
 * writes it: strtod alone would also read "0x10" as 16 and "infinity".
 * An entropy is never negative. */
static double parse_value(char *s, int column0, const char *name, size_t lineno, const char *field) {
    double x;
    if (*s == '{') {
        json_error_t jerr;
        /* as every record reader: \u0000 in a string is text (a sample's
         * response may hold one), a raw NUL byte was refused above */
        json_t *obj = pic_json_loadb(s, strlen(s), JSON_ALLOW_NUL | JSON_REJECT_DUPLICATES, &jerr);
        if (!obj) pic_die("%s:%zu: malformed JSON at column %d: %s", name, lineno, jerr.column + column0, jerr.text);
        json_t *v = lookup(obj, field);
        if (!v) pic_die("%s:%zu: field '%s': missing", name, lineno, field);
        if (!json_is_number(v) || !isfinite(json_number_value(v)))
            pic_die("%s:%zu: field '%s': not a finite number", name, lineno, field);
        x = json_number_value(v);
        json_decref(obj);
        if (x < 0) pic_die("%s:%zu: field '%s': entropy %g is negative", name, lineno, field, x);
        return x;
    }
    char *end;
    errno = 0;
    x = strtod(s, &end);
    /* ERANGE also flags a value below DBL_MIN (1e-310, 1e-400): that one
     * reads as its nearest double (0 at worst), as it does in a JSON object;
     * only an overflow is out of range */
    bool overflow = errno == ERANGE && fabs(x) > DBL_MIN;
    if (end == s || *end || overflow || !isfinite(x) || strspn(s, "+-.0123456789eE") != strlen(s))
        pic_die("%s:%zu: expected a finite decimal number or a JSON object, got '%.40s%s'", name, lineno,
                s, strlen(s) > 40 ? "..." : "");
    if (x < 0) pic_die("%s:%zu: entropy %g is negative", name, lineno, x);
    return x;
}

/* The shortest %.Ng that reads back as the same double: alphas are exact,
 * not rounded to float32 (a downstream comparison to 1e-12 must hold). */
static void print_double(double x) {
    char buf[40];
    for (int prec = 15; prec <= 17; prec++) {
        snprintf(buf, sizeof buf, "%.*g", prec, x);
        if (strtod(buf, NULL) == x) break;
    }
    printf("%s\n", buf);
}

void pictl_print_json(const pic_ctl_out *o, bool with_d) {
    json_t *obj = json_object();
    json_object_set_new(obj, "step", json_integer(o->step));
    json_object_set_new(obj, "entropy", json_real(o->entropy));
    json_object_set_new(obj, "target", json_real(o->target));
    json_object_set_new(obj, "error", json_real(o->error));
    json_object_set_new(obj, "p", json_real(o->p));
    json_object_set_new(obj, "i", json_real(o->i));
    if (with_d) json_object_set_new(obj, "d", json_real(o->d));
    json_object_set_new(obj, "integral", json_real(o->integral));
    json_object_set_new(obj, "alpha", json_real(o->alpha));
    json_object_set_new(obj, "saturated", json_boolean(o->saturated));
    pic_print_json_line(obj);
    json_decref(obj);
}

/* Reads every value of one input, stepping the controller. */
static void run_input(const char *path, const pic_ctl_params *p, pic_ctl_state *st,
                      const char *field, bool json, pic_ctl_out *last, bool *any) {
    /* plain or zstd, as every pic reader (a stream of records piped in) */
    pic_reader *r = pic_reader_open(path);
    const char *name = pic_reader_name(r);
    char *line;
    size_t n;
    while ((line = pic_reader_line(r, &n))) {
        size_t lineno = pic_reader_lineno(r);
        size_t nul = pic_nul_column(line, n);
        if (nul) pic_die("%s:%zu: a raw NUL byte at column %zu", name, lineno, nul);
        /* a byte-order mark before the first value, as every record reader
         * skips it (pic_reader_json) */
        if (lineno == 1) line += pic_utf8_bom(line, n);
        char *s = pic_trim(line);
        if (!*s) continue;
        double h = parse_value(s, (int)(s - line), name, lineno, field);
        pic_ctl_out o;
        if (pic_ctl_step(p, st, h, &o) != 0)
            pic_die("%s:%zu: entropy %g makes the controller's values overflow", name, lineno, h);
        if (json) pictl_print_json(&o, p->kd != 0);
        else print_double(o.alpha);
        pic_stdout_close(); /* flushed per value: a coprocess waits for each answer */
        *last = o;
        *any = true;
    }
    pic_reader_close(r);
}

static void load_schedule(const char *arg, pic_schedule *s) {
    char err[256];
    if (arg[0] == '@') {
        size_t len, col, line;
        char *text = pic_read_file(arg + 1, &len);
        if ((line = pic_nul_line(text, len, &col)))
            pic_die("%s:%zu: target schedule: a raw NUL byte at column %zu", arg + 1, line, col);
        if (pic_schedule_parse_lines(text + pic_utf8_bom(text, len), s, &line, err, sizeof err) != 0) {
            if (line) pic_die("%s:%zu: target schedule: %s", arg + 1, line, err);
            pic_die("%s: target schedule: %s", arg + 1, err);
        }
        free(text);
    } else if (pic_schedule_parse(arg, s, err, sizeof err) != 0) {
        pic_usage_error("--target-schedule: %s", err);
    }
}

int main(int argc, char **argv) {
    pic_init("pictl");
    /* entropies, errors, alphas: doubles, printed so that they read back */
    pic_json_doubles = true;
    bool simulate = argc > 1 && !strcmp(argv[1], "simulate");
    if (simulate) {
        /* getopt sees "simulate" as argv[0]: the options follow it. */
        argv[1] = argv[0];
        argv++;
        argc--;
    }

    pic_ctl_params p = {.kp = 1, .ki = 0.01, .kd = 0, .alpha_min = -1, .alpha_max = 1};
    pictl_sim_opts so = {.c0 = 0.5, .drift = 0, .h0 = 0.5, .noise = 0, .steps = 200, .seed = 1};
    double target = 0.1;
    const char *schedule_arg = NULL, *field = "entropy", *state_path = NULL;
    bool target_given = false, json = false, reset = false, seed_given = false;
    const double big = 1e6; /* gains and entropies beyond this are typos */

    int c, idx;
    while ((c = pic_getopt(argc, argv, "qh", long_opts, &idx)) != -1) {
        if (c >= OPT_KP && c != OPT_VERSION) {
            const char *name = long_opts[idx].name;
            /* getopt_long sets idx only for long options; all of these are. */
            if (simulate && listed(stream_only, name))
                pic_usage_error("--%s is not an option of 'pictl simulate'", name);
            if (!simulate && listed(sim_only, name))
                pic_usage_error("--%s is an option of 'pictl simulate' only", name);
        }
        if (c == 'q' && !simulate) pic_usage_error("--quiet is an option of 'pictl simulate' only");
        switch (c) {
        case OPT_KP: p.kp = pic_parse_double("--kp", optarg, 0, big); break;
        case OPT_KI: p.ki = pic_parse_double("--ki", optarg, 0, big); break;
        case OPT_KD: p.kd = pic_parse_double("--kd", optarg, 0, big); break;
        case OPT_TARGET:
            /* an entropy is never below 0: alpha would saturate chasing it
             * and the integral drift on for ever */
            target = pic_parse_double("--target", optarg, 0, PIC_TARGET_MAX);
            target_given = true;
            break;
        case OPT_SCHEDULE: schedule_arg = optarg; break;
        case OPT_AMIN: p.alpha_min = pic_parse_double("--alpha-min", optarg, -big, big); break;
        case OPT_AMAX: p.alpha_max = pic_parse_double("--alpha-max", optarg, -big, big); break;
        case OPT_ANTI_WINDUP: p.anti_windup = true; break;
        case OPT_FIELD:
            if (!*optarg) pic_usage_error("--field: empty name");
            field = optarg;
            break;
        case OPT_JSON: json = true; break;
        case OPT_STATE:
            if (!*optarg) pic_usage_error("--state: empty file name");
            state_path = optarg;
            break;
        case OPT_RESET: reset = true; break;
        case OPT_C0:
            so.c0 = pic_parse_double("--c0", optarg, 0, big);
            if (so.c0 <= 0) pic_usage_error("--c0: the plant gain must be > 0");
            break;
        case OPT_DRIFT: so.drift = pic_parse_double("--drift", optarg, -big, big); break;
        case OPT_H0: so.h0 = pic_parse_double("--h0", optarg, 0, big); break; /* an entropy */
        case OPT_STEPS: so.steps = pic_parse_int("--steps", optarg, 1, 100000000); break;
        case OPT_NOISE: so.noise = pic_parse_double("--noise", optarg, 0, big); break;
        case OPT_SEED:
            so.seed = (unsigned long long)pic_parse_int("--seed", optarg, 0, 0x7fffffffffffffffLL);
            seed_given = true;
            break;
        case OPT_SUMMARY: so.summary_only = true; break;
        case 'q': pic_quiet = 1; break;
        case 'h': pic_print_help(usage);
        case OPT_VERSION: pic_print_version();
        default: pic_usage_error("unknown option");
        }
    }
    if (p.alpha_min > p.alpha_max)
        pic_usage_error("--alpha-min %g is above --alpha-max %g", p.alpha_min, p.alpha_max);
    if (schedule_arg && target_given)
        pic_usage_error("--target and --target-schedule exclude each other");
    if (reset && !state_path) pic_usage_error("--reset needs --state");
    /* with Ki 0 the integral reaches no alpha and Ki*e_t never pushes into
     * the clip: the run would be the one without it */
    if (p.anti_windup && p.ki == 0) pic_usage_error("--anti-windup needs --ki above 0 (it holds back the integral term)");
    /* the seed draws only the noise: without it every seed ran the same loop */
    if (seed_given && so.noise == 0) pic_usage_error("--seed needs --noise above 0 (it seeds only the noise)");
    if (simulate && optind < argc) pic_usage_error("'pictl simulate' reads no files: '%s'", argv[optind]);

    pic_schedule sched;
    if (schedule_arg) load_schedule(schedule_arg, &sched);
    else pic_schedule_constant(&sched, target);
    p.target = &sched;

    if (simulate) {
        pictl_simulate(&p, &so);
        pic_schedule_free(&sched);
        return 0;
    }

    pic_ctl_state st = {0};
    if (state_path) lock_state(state_path);
    if (state_path && !reset) load_state(state_path, &st);
    pic_ctl_out last;
    bool any = false;
    if (optind == argc) {
        run_input(NULL, &p, &st, field, json, &last, &any);
    } else {
        for (int k = optind; k < argc; k++) run_input(argv[k], &p, &st, field, json, &last, &any);
    }
    /* Saved only after every value went through: a failed call leaves the
     * state as it was, so the pipeline can retry the step. --reset with no
     * input still writes the fresh state: that is how one resets a run. */
    if (state_path && (any || reset)) save_state(state_path, &st, any ? &last : NULL);
    pic_stdout_close();
    pic_schedule_free(&sched);
    return 0;
}
