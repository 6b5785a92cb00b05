#!/usr/bin/env bash
# train.sh: one RL run with EntroPIC entropy control, as a pipeline of pic's
# programs. Each step:
#   prompts -> pic-rollout | pic-reward        RUN/rollouts/step-N.jsonl.zst
#                                              (.partial while it runs)
#   token-mean entropy -> pictl                alpha (RUN/pictl/step-N.json)
#   pic-update --alpha                         RUN/ckpt/step-N, stats
#   step record                                RUN/steps/step-N.json -> RUN/log.jsonl
# A step is complete when its step record exists; everything before it is
# rebuilt or reused on resume, so a run killed at any moment and started again
# with the same command ends exactly where an uninterrupted run would.
set -euo pipefail
PROG=train.sh
. "$(dirname "$0")/lib.sh"

usage() {
    cat <<'EOF2'
Usage: train.sh --run DIR --model DIR [OPTION]...
One RL run with EntroPIC (arXiv 2511.15248) or one of the baselines the paper
compares it with, each alone and with its authors' defaults.

Defaults: the paper's algorithm settings (clip 0.2/0.2, lr 1e-6, 8 samples per
prompt at T 0.6, target 0.1, Kp 1, Ki 0.01, tau 0.95, validation at T 0.6 and
top-p 0.95) with three settings SCALED DOWN so that a run fits one machine:
64 prompts a step (paper 512), 1024 new tokens (paper 8192) and no validation
(paper every 20 steps). --paper-scale uses the paper's three. An option that
would do nothing in the run (--kp with --target off, a method's own option
without that method) is a usage error that says what it needs.

Run:
      --run DIR            the run's directory (created; resumed if it exists,
                           a step's rollout from its last finished prompt,
                           its validation from its last finished problem)
      --model DIR          the initial HF checkpoint
      --data FILE          prompt records (id, problem, answer); default: the
                           synthetic tasks of pic-task
      --difficulty D       pic-task's difficulty (default 1) of the synthetic
                           prompts: training's without --data, validation's
                           without --val-data
      --steps N            training steps (default 100)
      --prompts B          prompts per step (default 64; paper 512)
      --seed S             seed of batches and sampling (default 1)
      --keep M             keep the last M checkpoints (default 2; 0 keeps
                           all); validated ones are always kept
      --paper-scale        --prompts 512 --max-new-tokens 8192 --val-every 20
      --device D           cpu, cuda or auto (default): where pic-rollout
                           generates and pic-update trains (auto: each
                           program's own choice, a visible GPU for training)
Rollout:
      --n K                samples per prompt (default 8)
      --temperature T      (default 0.6; the paper's Table 3 also runs 1.0)
      --max-new-tokens N   maximum response length (default 1024; paper 8192)
      --template T         prompt template: raw (the problem as is, the default),
                           chatml, qwen2.5, qwen2.5-math, qwen3,
                           qwen3-thinking, qwen3-nothink, llama3, llama3.1,
                           deepseek-r1, auto (the model's chat template) or a
                           file with {problem}
      --eos TOKEN          one more token that ends a response (pic-rollout
                           --eos; repeatable), in training and validation:
                           <|im_end|> for a base model prompted in ChatML
      --rollout-args ARGS  more options for pic-rollout (word-split), for the
                           training rollouts only (validation samples with
                           --val-n, --val-temperature, --val-top-p); a
                           --temperature there is also the one trained at;
                           not --max-new-tokens (train.sh's own)
      --reward-args ARGS   more options for pic-reward, in training and
                           validation (word-split), e.g. '--task countdown'
Method (each baseline runs alone; --with-entropic adds EntroPIC to it):
      --method M           entropic (default): GRPO with EntroPIC at --target
                           grpo: GRPO alone (as --target off)
                           dr-grpo: Dr. GRPO (Liu et al. 2025): r - mean, loss
                             sum / the generation budget (--max-new-tokens)
                           nsr, psr, w-reinforce: Zhu et al. 2025
                             (RLVR-Decomposed; NSR/PSR on one class only,
                             W-REINFORCE lambda 0.1)
                           clip-cov, kl-cov: Cui et al. 2025 (ratio 2e-4;
                             Clip-Cov window (1, 5), KL-Cov coef 1)
                           aec: Skywork-OR1's adaptive entropy coefficient
                             (target --aec-target, step 1e-4, cap 0.005)
                           entropy-bonus: a fixed bonus --entropy-coef
                           dmmpt: UloRL's masking of well-mastered positive
                             tokens (p >= 0.99) below --dmmpt-target
      --with-entropic      add EntroPIC (at --target) to the method
      --entropy-coef C     for entropy-bonus (default 0.001)
      --aec-target H       for aec (default 0.2, Skywork-OR1's)
      --dmmpt-target H     for dmmpt (required: the entropy below which the
                           mask is on)
      --mask-quadrant Q    the paper's Figure 2: no loss for the tokens of one
                           quadrant: hi-pos, hi-neg, lo-pos or lo-neg (above
                           or at/below --tau, positive or negative advantage)
Control (EntroPIC):
      --target H|off       target entropy (default 0.1); off: no EntroPIC
      --kp X  --ki X       PI gains (default 1, 0.01); --ki 0 is P control
      --tau X              high-probability threshold (default 0.95); every
                           run takes it: the log's hi_frac counts the tokens
                           above it
      --entropic-tokens high|low  the tokens above tau (default) or at or
                           below it (the low-probability variant, sec. 4.3)
      --control-from N     EntroPIC from step N on (default 1); the steps
                           before are the method alone, with the same data
                           and seeds: plug-and-play (Figure 7)
      --pictl-args ARGS    more options for pictl (e.g. --anti-windup; not --target
                           or --target-schedule: the target is --target; not
                           --state or --json, which train.sh sets; no FILE)
Update:
      --lr X               (default 1e-6)
      --clip-low X         (default 0.2)     --clip-high X (default 0.2)
                           (every method but kl-cov, which clips nothing)
      --mini-batches K     optimizer steps per rollout batch (default 1; the
                           paper's off-policy setting is 4: then pictl runs
                           inside pic-update, once per optimizer step)
      --update-args ARGS   more options for pic-update (word-split)
      --serve              one pic-update --serve for the whole run
                           (docs/update.md): the weights and AdamW's state
                           stay in memory, on the GPU with one, between steps,
                           instead of a pic-update loading and writing them
                           each step; the same checkpoints, bit for bit. On a
                           GPU it needs --update-args '--micro-tokens N'
      --state-every K      with --serve: AdamW's state in the checkpoints of
                           every K-th step and of the last (default 1); the
                           others hold the weights only, and a run killed
                           and started again takes the steps since the last
                           state again (from their rollouts, saved)
Validation (as the paper: T 0.6, top-p 0.95, N samples per problem):
      --val-every K        evaluate every K steps (default 0: never; paper 20);
                           the other --val-* options need it
      --val-data FILE      prompt records, one dataset per file; repeat for
                           more (default: 64 held-out pic-task problems)
      --val-n N|SPEC       samples per problem: N, or NAME=N,...,N for some
                           datasets (by file name; without --val-data the
                           held-out set is 'prompts') and N for the rest
                           (default 8; the paper uses 8 or 32 per dataset)
      --val-temperature T  (default 0.6; 0 is greedy, which takes no --val-top-p,
                           and one sample a problem without --val-n)
                           --val-top-p P (default 0.95)
Ranks (docs/distributed.md):
      --ranks R            run pic-rollout and pic-update as R ranks of an MPI
                           job (default 1: plain processes); the result is
                           R's within rounding, so a run may resume on another R;
                           with --device cuda, one GPU a rank
      --launcher mpirun|srun  how the ranks start, with R above 1 (default
                           mpirun; srun inside a Slurm allocation, see
                           pipelines/slurm.sbatch)
      --launcher-args ARGS more options for the launcher (word-split), e.g.
                           '--hostfile hosts' or '--allow-run-as-root'

      --check              check the options (and, for a run that exists,
                           that they are its settings), then exit: nothing
                           is written (sweep.sh checks every run so first)
      --shared             the options after it are a sweep's, given to all
                           of its runs: one that does nothing in this run is
                           passed over (with --check: listed on stdout, as
                           OPTION, a tab, why) instead of refused
  -q, --quiet              only errors
  -h, --help               this help

Outputs in RUN: log.jsonl (one line per step: step, entropy, target, alpha,
reward, accuracy, reflect, and pic-update's stats), val.jsonl (accuracy and
reflective words per response at each validation), best.json
and best -> the validated checkpoint of highest accuracy, final -> the last,
rollouts/, ckpt/, settings.json. plot.sh RUN draws them.
EOF2
}

run= model= data= difficulty=1 steps=100 prompts=64 seed=1 keep=2 device=auto
n=8 temperature=0.6 max_new=1024 template= rollout_args= reward_args=
target=0.1 kp=1 ki=0.01 tau=0.95 pictl_args= entropic_tokens=high control_from=1 with_entropic=
method=entropic entropy_coef=0.001 aec_target=0.2 dmmpt_target= mask_quadrant=
lr=1e-6 clip_low=0.2 clip_high=0.2 mini_batches=1 update_args=
val_every=0 val_n=8 val_n_given= val_temperature=0.6 val_top_p=0.95 QUIET=
ranks=1 launcher=mpirun launcher_args= check= serve= state_every=
val_data=() eos=()
# The options given, by name: those of the run itself, and a sweep's shared
# ones (after --shared), checked by only_with below
given=" " shared=" " in_shared=
while [ $# -gt 0 ]; do
    case "$1" in --shared) ;; -*) if [ -n "$in_shared" ]; then shared+="$1 "; else given+="$1 "; fi ;; esac
    case "$1" in
    --run) need "$@"; run=$2; shift ;;
    --model) need "$@"; model=$2; shift ;;
    --data) need "$@"; data=$2; shift ;;
    --difficulty) need "$@"; difficulty=$2; shift ;;
    --steps) need "$@"; steps=$2; shift ;;
    --prompts) need "$@"; prompts=$2; shift ;;
    --seed) need "$@"; seed=$2; shift ;;
    --keep) need "$@"; keep=$2; shift ;;
    --paper-scale) prompts=512 max_new=8192 val_every=20 ;;
    --device) need "$@"; device=$2; shift ;;
    --n) need "$@"; n=$2; shift ;;
    --temperature) need "$@"; temperature=$2; shift ;;
    --max-new-tokens) need "$@"; max_new=$2; shift ;;
    --template) need "$@"; template=$2; shift ;;
    --eos) need "$@"; eos+=("$2"); shift ;;
    --rollout-args) need "$@"; rollout_args=$2; shift ;;
    --reward-args) need "$@"; reward_args=$2; shift ;;
    --method) need "$@"; method=$2; shift ;;
    --with-entropic) with_entropic=1 ;;
    --entropy-coef) need "$@"; entropy_coef=$2; shift ;;
    --aec-target) need "$@"; aec_target=$2; shift ;;
    --dmmpt-target) need "$@"; dmmpt_target=$2; shift ;;
    --mask-quadrant) need "$@"; mask_quadrant=$2; shift ;;
    --target) need "$@"; target=$2; shift ;;
    --kp) need "$@"; kp=$2; shift ;;
    --ki) need "$@"; ki=$2; shift ;;
    --tau) need "$@"; tau=$2; shift ;;
    --entropic-tokens) need "$@"; entropic_tokens=$2; shift ;;
    --control-from) need "$@"; control_from=$2; shift ;;
    --pictl-args) need "$@"; pictl_args=$2; shift ;;
    --lr) need "$@"; lr=$2; shift ;;
    --clip-low) need "$@"; clip_low=$2; shift ;;
    --clip-high) need "$@"; clip_high=$2; shift ;;
    --mini-batches) need "$@"; mini_batches=$2; shift ;;
    --update-args) need "$@"; update_args=$2; shift ;;
    --serve) serve=1 ;;
    --state-every) need "$@"; state_every=$2; shift ;;
    --val-every) need "$@"; val_every=$2; shift ;;
    --val-data) need "$@"; val_data+=("$2"); shift ;;
    --val-n) need "$@"; val_n=$2; val_n_given=1; shift ;;
    --val-temperature) need "$@"; val_temperature=$2; shift ;;
    --val-top-p) need "$@"; val_top_p=$2; shift ;;
    --ranks) need "$@"; ranks=$2; shift ;;
    --launcher) need "$@"; launcher=$2; shift ;;
    --launcher-args) need "$@"; launcher_args=$2; shift ;;
    --check) check=1 ;;
    --shared) in_shared=1 ;;
    -q|--quiet) QUIET=1 ;;
    -h|--help) usage; exit 0 ;;
    *) usage_error "unknown option '$1'" ;;
    esac
    shift
done
dash_paths run model data val_data template
[ -n "$run" ] || usage_error "--run DIR is required"
int_opt --ranks ranks 1
case "$launcher" in mpirun|srun) ;; *) usage_error "--launcher: '$launcher' is not mpirun or srun" ;; esac
[ "$ranks" -eq 1 ] || command -v "$launcher" > /dev/null || die "--ranks $ranks: $launcher is not installed"
[ -n "$model" ] || usage_error "--model DIR is required"
[ -z "$state_every" ] || [ -n "$serve" ] || usage_error "--state-every needs --serve (pic-update alone writes the state every step)"
state_every=${state_every:-1}
# The integers as the programs read them (lib.sh's int_opt: 010 is ten),
# within the programs' ranges that are checked only at a step's rollout,
# batch or prompts: after the run's settings were written, which a
# corrected command was then refused as other ones (pic-batch's --step and
# --size, pic-task's --difficulty, pic-rollout's --seed below)
int_opt --state-every state_every 1
int_opt --steps steps 1 $((1 << 40))
int_opt --prompts prompts 1 $((1 << 30))
int_opt --n n 1 $((1 << 20))
int_opt --max-new-tokens max_new 1 $((1 << 24))
int_opt --mini-batches mini_batches 1 $((1 << 20))
int_opt --difficulty difficulty 1 5
int_opt --keep keep 0
int_opt --val-every val_every 0
int_opt --control-from control_from 0
int_opt --seed seed 0
# step N's rollout is pic-rollout --seed S * 1000003 + N, at most 2^62
[ "$seed" -le $(( ((1 << 62) - steps) / 1000003 )) ] ||
    usage_error "--seed: $seed is too large: step $steps's rollout seed ($seed * 1000003 + $steps) passes 2^62"
n_spec --val-n val_n
case "$method" in
entropic|grpo|dr-grpo|nsr|psr|w-reinforce|clip-cov|kl-cov|aec|entropy-bonus|dmmpt) ;;
*) usage_error "--method: unknown method '$method'" ;;
esac
case "$device" in cpu|cuda|auto) ;; *) usage_error "--device: '$device' is not cpu, cuda or auto" ;; esac
case "$entropic_tokens" in high|low) ;; *) usage_error "--entropic-tokens: '$entropic_tokens' is not high or low" ;; esac
case "$mask_quadrant" in ''|hi-pos|hi-neg|lo-pos|lo-neg) ;;
*) usage_error "--mask-quadrant: '$mask_quadrant' is not hi-pos, hi-neg, lo-pos or lo-neg" ;; esac
[ "$method" != dmmpt ] || [ -n "$dmmpt_target" ] || usage_error "--method dmmpt needs --dmmpt-target H"
[ -z "$with_entropic" ] || [ "$method" != entropic ] || usage_error "--with-entropic goes with a baseline --method"
[ -z "$with_entropic" ] || [ "$target" != off ] || usage_error "--with-entropic needs a --target"
# train.sh passes pictl --target and logs it as each step's target: a
# schedule there would be refused by pictl (and logged wrong)
case " $pictl_args " in *" --target"[\ =]* | *" --target-schedule"*)
    usage_error "--pictl-args: the target is train.sh's --target, not pictl's" ;; esac
# and the controller's state file and output are train.sh's: a --state there
# won over the step's snapshot (pictl's state went to that file, and the run
# stopped on 'mv: cannot stat'), --json answered an object where pic-update
# reads alpha; both after step 1's rollout, with the settings already fixed.
# pictl's getopt_long takes a unique prefix too: --sta is --state, --j --json
case " $pictl_args " in *" --sta"* | *" --j"*)
    usage_error "--pictl-args: --state and --json are train.sh's (a snapshot per step, alpha as a number)" ;; esac
# The response budget is train.sh's own: Dr. GRPO's --norm-len and the
# validation rollouts take --max-new-tokens, so one given to pic-rollout
# alone (its getopt_long takes --max-n as the same) left them at another
case " $rollout_args " in *" --max-n"*)
    usage_error "--rollout-args: give the response budget as train.sh's --max-new-tokens (Dr. GRPO's length" \
        "normalization and the validation rollouts use it too)" ;; esac
rollout_args_own "$rollout_args"
# Options are checked before settings.json and the first rollouts (here,
# and by each program below): a typo a program found at step 1 came after
# that step's generation, with the run's settings already fixed, so that a
# restart with the value corrected was refused as other settings. Numbers
# are decimal, as the log's JSON takes them (pictl would read --target 0x1).
decimal='^[-+]?([0-9]+\.?[0-9]*|\.[0-9]+)([eE][-+]?[0-9]+)?$'
for v in temperature kp ki tau lr clip_low clip_high entropy_coef aec_target val_temperature val_top_p; do
    [[ ${!v} =~ $decimal ]] || usage_error "--${v//_/-}: '${!v}' is not a decimal number"
done
[ "$target" = off ] || [[ $target =~ $decimal ]] || usage_error "--target: '$target' is not a decimal number or off"
[ -z "$dmmpt_target" ] || [[ $dmmpt_target =~ $decimal ]] ||
    usage_error "--dmmpt-target: '$dmmpt_target' is not a decimal number"
# EntroPIC is on for --method entropic (unless --target off) and for a
# baseline only with --with-entropic.
entropic=$({ [ "$method" = entropic ] || [ -n "$with_entropic" ]; } && [ "$target" != off ] && echo 1 || true)
# An option given that would do nothing here is a usage error, as in
# pic-update (needs()): the run would be the one without it, silently. A
# sweep's shared option (--shared) goes to every run, the GRPO baseline's
# --target off included: one run's unused one is passed over, and listed
# for sweep.sh, which refuses one that none of its runs uses.
unused=()
only_with() { # OPTION ACTIVE WHAT: OPTION does nothing unless ACTIVE is non-empty
    [ -z "$2" ] || return 0
    case "$given" in *" $1 "*) usage_error "$1 needs $3 (without it the option does nothing)" ;; esac
    case "$shared" in *" $1 "*) unused+=("$1"$'\t'"$1 needs $3") ;; esac
}
only_with --target "$([[ $target = off || $method = entropic || -n $with_entropic ]] && echo 1)" \
    "--method entropic or --with-entropic"
for o in --kp --ki --pictl-args --entropic-tokens --control-from; do
    only_with "$o" "$entropic" "EntroPIC: --method entropic or --with-entropic, with a --target other than off"
done
# (--tau is no such option: every run's log has hi_frac, its tokens above tau)
only_with --entropy-coef "$([[ $method = entropy-bonus ]] && echo 1)" "--method entropy-bonus"
only_with --aec-target "$([[ $method = aec ]] && echo 1)" "--method aec"
only_with --dmmpt-target "$([[ $method = dmmpt ]] && echo 1)" "--method dmmpt"
# KL-Cov's loss is the unclipped ratio (verl's): pic-update refuses a clip beside it
for o in --clip-low --clip-high; do
    only_with "$o" "$([[ $method != kl-cov ]] && echo 1)" "a loss that clips a ratio: any --method but kl-cov"
done
# NSR's samples all have a negative advantage, PSR's a positive one
q=$method:$mask_quadrant
only_with --mask-quadrant "$([[ $q != nsr:*-pos && $q != psr:*-neg ]] && echo 1)" \
    "tokens of its advantage's sign, which --method $method leaves none of"
validating=$([[ $val_every =~ [1-9] ]] && echo 1 || true) # (digits: K above 0)
only_with --difficulty "$([[ -z $data || (-n $validating && ${#val_data[@]} -eq 0) ]] && echo 1)" \
    "synthetic prompts: no --data, or --val-every without --val-data"
for o in --val-data --val-n --val-temperature --val-top-p; do
    only_with "$o" "$validating" "--val-every K"
done
only_with --val-top-p "$(greedy "$val_temperature" || echo 1)" "a --val-temperature above 0 (greedy draws nothing)"
# validation's sampling options: none for greedy, which pic-rollout refuses them at
val_sampling=()
greedy "$val_temperature" || val_sampling=(--top-p "$val_top_p" --seed "$seed")
# greedy gives one response a problem however often it runs: one sample,
# unless --val-n says otherwise (eval.sh's --n at --temperature 0); the
# default 8 was eight times the work for the same accuracy
! greedy "$val_temperature" || [ -n "$val_n_given" ] || val_n=1
for o in --launcher --launcher-args; do
    only_with "$o" "$([[ $ranks -gt 1 ]] && echo 1)" "--ranks R above 1"
done
model_dir "$model" || die "$model: not a model directory (no config.json)"
[ -z "$data" ] || [ -r "$data" ] || die "$data: cannot read"
check_template "$template"
for f in ${val_data[@]+"${val_data[@]}"}; do [ -r "$f" ] || die "$f: cannot read"; done
distinct_datasets ${val_data[@]+"${val_data[@]}"} # eval.sh's rules, checked before the first validation
[ ${#val_data[@]} -eq 0 ] || distinct_problems "${val_data[@]}" || exit 1
val_names=(prompts) # the held-out problems' file, RUN/val/prompts.jsonl
[ ${#val_data[@]} -eq 0 ] || { val_names=(); for f in "${val_data[@]}"; do val_names+=("$(dataset_name "$f")"); done; }
n_names --val-n "$val_n" "${val_names[@]}"
model=$(cd "$model" && pwd)
[ -z "$data" ] || data=$(realpath "$data")
# --data read as each step's pic-batch reads it, before settings.json holds
# the file's sum: a malformed line, or two problems of one id, stopped step
# 1 after it, and the corrected file was then refused as other settings
[ -z "$data" ] || pic-batch -q --plain --no-shuffle --step 1 --size 1 "$data" > /dev/null ||
    die "--data $data: pic-batch refuses it (above)"
# a template file, like the data, by its absolute path: the settings a
# resumed run is held to name the same file from any directory
case "$template" in ''|raw|chatml|qwen2.5|qwen2.5-math|qwen3|qwen3-thinking|qwen3-nothink|llama3|llama3.1|deepseek-r1|auto) ;; *) template=$(realpath "$template") ;; esac
val_files=()
for f in ${val_data[@]+"${val_data[@]}"}; do val_files+=("$(realpath "$f")"); done
rollout_opts=(--n "$n" --temperature "$temperature" --max-new-tokens "$max_new"
              --device "$device")
[ -z "$template" ] || rollout_opts+=(--template "$template")
eos_opts=()
for e in ${eos[@]+"${eos[@]}"}; do eos_opts+=(--eos "$e"); done
rollout_opts+=(${eos_opts[@]+"${eos_opts[@]}"})
# shellcheck disable=SC2206
rollout_opts+=($rollout_args)
# shellcheck disable=SC2206
reward_opts=($reward_args)

# No --temperature: pic-update trains at the samples' own (each record's
# `temperature`), which is --temperature unless --rollout-args set another
# (pic-rollout takes the last one given): a --temperature here overrode the
# records', and that run trained off-policy at T 0.6 on samples drawn at
# 1.0, its controller fed the entropy at the other temperature
update_opts=(--device "$device" --lr "$lr" --tau "$tau" --mini-batches "$mini_batches")
[ "$method" = kl-cov ] || update_opts+=(--clip-low "$clip_low" --clip-high "$clip_high")
case "$method" in
dr-grpo) update_opts+=(--adv-norm none --loss-agg seq-mean-token-sum-norm --norm-len "$max_new") ;;
nsr|psr|w-reinforce) update_opts+=(--adv "$method") ;;
clip-cov|kl-cov) update_opts+=(--pg "$method") ;;
aec) update_opts+=(--aec-target "$aec_target") ;;
entropy-bonus) update_opts+=(--entropy-coef "$entropy_coef") ;;
dmmpt) update_opts+=(--dmmpt-target "$dmmpt_target") ;;
esac
[ -z "$mask_quadrant" ] || update_opts+=(--mask-quadrant "$mask_quadrant")
# shellcheck disable=SC2206
update_opts+=($update_args)
pictl_opts=(--target "$target" --kp "$kp" --ki "$ki")
# shellcheck disable=SC2206
pictl_opts+=($pictl_args)

# Every program's options, checked by the program itself before the run
# takes its settings: a usage error (exit 2) comes before any work, so each
# is started on a model that does not exist, and only exit 2 counts here.
nomodel=$(mktemp -u -d)
usage_check() { # PROGRAM ARGS...
    local err st=0
    err=$("$@" 2>&1 < /dev/null > /dev/null) || st=$?
    [ "$st" -ne 2 ] || usage_error "$1 refuses the run's options: ${err%%$'\n'*}"
}
usage_check pic-rollout --model "$nomodel" "${rollout_opts[@]}"
[ "$val_every" -eq 0 ] || usage_check pic-rollout --model "$nomodel" --n 1 --temperature "$val_temperature" \
    ${val_sampling[@]+"${val_sampling[@]}"} --max-new-tokens "$max_new" ${template:+--template "$template"} \
    ${eos_opts[@]+"${eos_opts[@]}"}
usage_check pic-reward ${reward_opts[@]+"${reward_opts[@]}"}
# with EntroPIC, the term's options beside an alpha: pic-update refuses them
# alone (they would do nothing), --update-args '--entropic-norm all' included
term_opts=()
[ -z "$entropic" ] || term_opts=(--alpha 0 --entropic-tokens "$entropic_tokens")
[ -z "$entropic" ] || usage_check pictl "${pictl_opts[@]}"
# A word of --pictl-args that no option takes ('--anti-windup 1') is a FILE
# operand to pictl, which reads the entropies from it instead of the step's
# on stdin: a usage check passes it (a missing file is exit 1), and the run
# stopped after step 1's rollout with its settings fixed, or took the alpha
# of what the file held. So pictl is asked once, statelessly, for the alpha
# of a known entropy, which must come back from stdin and alone.
if [ -n "$entropic" ]; then
    probe_st=0
    probe=$(printf '0.125\n' | pictl "${pictl_opts[@]}" --json 2>&1) || probe_st=$?
    [ "$probe_st" -eq 0 ] && [[ $probe == '{"step":0,"entropy":0.125,'* && $probe != *$'\n'* ]] ||
        usage_error "--pictl-args: pictl reads a word of it as a file of entropies (it reads each step's" \
            "on stdin): '$pictl_args'$([ "$probe_st" -eq 0 ] || echo " (${probe%%$'\n'*})")"
fi
if [ -n "$serve" ]; then
    usage_check pic-update --model "$nomodel" --serve --temperature "$temperature" "${update_opts[@]}" \
        ${term_opts[@]+"${term_opts[@]}"}
else
    usage_check pic-update --model "$nomodel" --output "$nomodel" --temperature "$temperature" "${update_opts[@]}" \
        ${term_opts[@]+"${term_opts[@]}"} /dev/null
fi

# The settings that decide the result; a resumed run must use the same ones
# (only --steps may grow, --keep and --quiet change nothing learned).
# (--eos only when given: a run from before it resumes with the settings it has)
eos_json=$([ ${#eos[@]} -eq 0 ] || jq -cn '$ARGS.positional' --args "${eos[@]}")
# The files the run reads, by their contents too (path: cksum): one changed
# under the same path (pic-batch draws each step's batch from --data anew)
# made another run of the steps after a resume, silently
sums=()
for f in ${data:+"$data"} ${val_files[@]+"${val_files[@]}"}; do sums+=("$f" "$(cksum < "$f")"); done
[[ $template != /* ]] || sums+=("$template" "$(cksum < "$template")") # (a file: its absolute path)
sums_json=$([ ${#sums[@]} -eq 0 ] ||
    jq -cn '$ARGS.positional | [range(0; length; 2) as $i | {(.[$i]): .[$i + 1]}] | add' --args "${sums[@]}")
settings=$(jq -n --arg model "$model" --arg data "$data" --arg difficulty "$difficulty" \
    --arg prompts "$prompts" --arg seed "$seed" --arg n "$n" --arg temperature "$temperature" \
    --arg max_new "$max_new" --arg template "$template" --arg rollout_args "$rollout_args" \
    ${reward_args:+--arg reward_args "$reward_args"} ${eos_json:+--argjson eos "$eos_json"} \
    ${sums_json:+--argjson file_sums "$sums_json"} \
    --arg target "$target" --arg kp "$kp" --arg ki "$ki" --arg tau "$tau" \
    --arg pictl_args "$pictl_args" --arg method "$method" --arg with_entropic "$with_entropic" \
    --arg entropy_coef "$entropy_coef" --arg aec_target "$aec_target" --arg dmmpt_target "$dmmpt_target" \
    --arg mask_quadrant "$mask_quadrant" --arg entropic_tokens "$entropic_tokens" \
    --arg control_from "$control_from" \
    --arg lr "$lr" --arg clip_low "$clip_low" --arg clip_high "$clip_high" \
    --arg mini_batches "$mini_batches" --arg update_args "$update_args" \
    --arg val_every "$val_every" --arg val_data "${val_files[*]+${val_files[*]}}" --arg val_n "$val_n" \
    --arg val_temperature "$val_temperature" --arg val_top_p "$val_top_p" '$ARGS.named')
# settings_value: settings (stdin) as compared: a decimal by its value, as
# the programs read it (--lr 1e-6 is --lr 0.000001), the rest as text
# (the integers in the plain form int_opt gave them: 064 is 64)
settings_value() {
    jq -S 'with_entries(if .key | IN("temperature", "target", "kp", "ki", "tau", "lr", "clip_low",
        "clip_high", "entropy_coef", "aec_target", "dmmpt_target", "val_temperature", "val_top_p")
        then .value = (.value | tonumber? // .) else . end)'
}
# same_settings: a run that exists was started with these settings
same_settings() {
    [ -f "$run/settings.json" ] || return 0
    local saved now
    saved=$(settings_value < "$run/settings.json")
    # (a run from before file_sums resumes as it was, held to its paths)
    now=$(jq --argjson s "$saved" 'if $s | has("file_sums") then . else del(.file_sums) end' <<<"$settings" |
        settings_value)
    [ "$saved" = "$now" ] && return 0
    diff <(printf '%s\n' "$saved") <(printf '%s\n' "$now") >&2 || true
    # (a sweep names its runs' folders: its user gives a new --out)
    die "$run was started with other settings (above: < saved, > now);" \
        "use a new --run${in_shared:+ (a sweep: a new --out)}"
}
if [ -n "$check" ]; then same_settings; [ ${#unused[@]} -eq 0 ] || printf '%s\n' "${unused[@]}"; exit 0; fi
mkdir -p "$run"/{rollouts,ckpt,steps,pictl,val,updates}
# One train.sh a run: the lock is held by it and by every program it starts
# (they inherit the descriptor), so a second start, or one while the
# programs of a killed train.sh still run, is refused instead of racing them.
exec 9>>"$run/.lock"
flock -n 9 || die "$run: in use by another train.sh (or by the programs of one that was killed)"
# No other writer now: what killed ones left under temporary names goes (a
# checkpoint caught mid-replacement, *.old.*, is the programs' to restore)
# (inside the run only: a run named like one, "keep.tmp", is not removed)
find "$run" -mindepth 1 -depth \( -name '*.tmp' -o -name '*.tmp.*' \) ! -name '*.old.*' -exec rm -rf {} + 2>/dev/null || true
same_settings
[ -f "$run/settings.json" ] || write_whole "$run/settings.json" printf '%s\n' "$settings"

# launch PROGRAM ARGS...: the program as --ranks ranks (the launcher's
# stdin is /dev/null: it would forward the script's own to rank 0).
launch() {
    if [ "$ranks" -eq 1 ]; then
        "$@"
    elif [ "$launcher" = srun ]; then
        # shellcheck disable=SC2086
        srun --ntasks "$ranks" $launcher_args "$@" < /dev/null
    else
        # shellcheck disable=SC2086
        mpirun -np "$ranks" $launcher_args "$@" < /dev/null
    fi
}

# The run's pic-update --serve (--serve): started at the first update, from
# the checkpoint before it, which holds AdamW's state; each step a request
# line to it and its stats line back.
server_pid=
serve_start() { # CKPT
    # two named pipes, opened in the same order on both sides (requests,
    # then answers), in the run's directory: the lock keeps it to one writer
    local pipes="$run/.serve"
    { rm -rf "$pipes" && mkdir "$pipes" && mkfifo "$pipes/requests" "$pipes/answers"; } || die "$pipes: cannot make pipes"
    # the launcher forwards standard input to rank 0, which reads the requests
    if [ "$ranks" -eq 1 ]; then
        pic-update -q --model "$1" --serve "${update_opts[@]}" ${term_opts[@]+"${term_opts[@]}"} \
            < "$pipes/requests" > "$pipes/answers" &
    elif [ "$launcher" = srun ]; then
        # shellcheck disable=SC2086
        srun --ntasks "$ranks" --input=0 $launcher_args pic-update -q --model "$1" --serve \
            "${update_opts[@]}" ${term_opts[@]+"${term_opts[@]}"} < "$pipes/requests" > "$pipes/answers" &
    else
        # in a session of its own: mpirun answers a SIGTERM or SIGINT by
        # killing its ranks (SIGCONT, a second later SIGTERM, a second later
        # SIGKILL), too soon for a step to end or AdamW's state to be
        # written; the process group's signal reaches train.sh, and
        # serve_kill ends the requests instead
        # shellcheck disable=SC2086
        setsid -w mpirun -np "$ranks" $launcher_args pic-update -q --model "$1" --serve \
            "${update_opts[@]}" ${term_opts[@]+"${term_opts[@]}"} < "$pipes/requests" > "$pipes/answers" &
    fi
    server_pid=$!
    # A background job of a script ignores SIGINT: without these, Ctrl-C
    # ended train.sh and left the server to finish its step, holding the
    # run's lock and the GPU. It is ended with train.sh, which then dies by
    # its signal: SIGTERM, on which the server gives up a step not yet
    # taken and saves AdamW's state with its last checkpoint (a SIGKILL
    # leaves weights-only steps, taken again on resume).
    trap serve_kill EXIT
    trap 'serve_kill; trap - INT; kill -INT $$' INT
    trap 'serve_kill; trap - TERM; kill -TERM $$' TERM
    exec {server_in}> "$pipes/requests" {server_out}< "$pipes/answers"
    rm -rf "$pipes" # open on both sides: the names are no longer needed
}
# serve_kill: the server ends now, with train.sh (a signal, an error),
# once it has saved its state
serve_kill() {
    [ -n "$server_pid" ] || return 0
    if [ "$ranks" -gt 1 ] && [ "$launcher" = mpirun ] && [ -n "${server_in:-}" ]; then
        # the end of its requests, which mpirun passes on to rank 0: the
        # step in flight ends (a job of several ranks gives none up) and the
        # last checkpoint gets its state, however long that takes
        exec {server_in}>&-
        server_in=
    else
        kill -TERM "$server_pid" 2>/dev/null || true
    fi
    wait "$server_pid" 2>/dev/null || true
    server_pid=
}
serve_died() { # STEP
    local st=0
    wait "$server_pid" || st=$?
    die "step $1: pic-update --serve ended (exit $st; its message is above)"
}
# serve_stop: the end of the requests; the server writes what is left and exits
serve_stop() {
    [ -n "$server_pid" ] || return 0
    local st=0
    exec {server_in}>&-
    server_in=
    wait "$server_pid" || st=$?
    server_pid=
    trap - EXIT INT TERM
    [ "$st" -eq 0 ] || die "pic-update --serve failed at the end of the run (exit $st)"
}

# ckpt_to VAR N: step N's checkpoint (0: the starting model) into VAR
ckpt_to() {
    if [ "$2" -eq 0 ]; then printf -v "$1" '%s' "$model"; else printf -v "$1" '%s/ckpt/step-%06d' "$run" "$2"; fi
}

# The prompts of step N.
batch() {
    if [ -n "$data" ]; then
        pic-batch -q --step "$1" --size "$prompts" --seed "$seed" "$data"
    else
        pic-task -q --start $(( ($1 - 1) * prompts )) -n "$prompts" --seed "$seed" -d "$difficulty"
    fi
}

# Token-mean entropy and mean reward of a scored stream, in one pass.
batch_stats() {
    zstdcat -f "$1" | jq -cn 'reduce inputs as $r ({h: 0, t: 0, r: 0, s: 0};
        .h += ($r.entropy | add // 0) | .t += ($r.entropy | length) | .r += $r.reward | .s += 1)
        | {entropy: (if .t > 0 then .h / .t else null end), reward: (.r / .s), samples: .s, tokens: .t}'
}

validate() { # step ckpt
    local out="$run/val/$(step_name "$1")"
    local vd=("${val_files[@]+"${val_files[@]}"}")
    if [ ${#vd[@]} -eq 0 ]; then
        vd=("$run/val/prompts.jsonl")
        # whole or absent: a kill mid-write left a short file that later
        # validations took for the held-out set
        if [ ! -s "${vd[0]}" ]; then
            write_whole "${vd[0]}" pic-task -q --plain --start 1000000000 -n 64 --seed "$seed" -d "$difficulty" ||
                return 1
        fi
    fi
    # into OUT.partial, which a start after a kill does not clear: eval.sh
    # keeps the samples it had made of the same checkpoint (not written
    # again: the step's update is kept), and samples the rest
    eval.sh -q --model "$2" --n "$val_n" --temperature "$val_temperature" ${val_sampling[@]+"${val_sampling[@]}"} \
        --max-new-tokens "$max_new" ${template:+--template "$template"} --out "$out.partial" \
        ${reward_args:+--reward-args "$reward_args"} ${eos_opts[@]+"${eos_opts[@]}"} \
        "${vd[@]}" > /dev/null || return 1
    rm -rf "$out" && mv "$out.partial" "$out" || return 1
    jq -c --argjson step "$1" '{step: $step, accuracy: .overall.avg, pass: .overall.pass_n,
        reflect: .overall.reflect, length: .overall.length,
        datasets: [.datasets[] | {dataset, n: .n_max, avg, pass_n, reflect}]}' "$out/table.json"
}

# What is derived from the step records, after each step: the logs (rebuilt
# from the records: always whole, never doubled), the pruned checkpoints and
# best.json. Also once on resuming (derive N all), since a kill between a
# step record and these leaves them a step behind, and that step is not run
# again. After a step that did not validate, val.jsonl and best.json are as
# the last derive left them: only the others are redone.
derive() {
    local step=$1 all=${2:-} d k name kname
    # Logs are rebuilt from the step records: always whole, never doubled.
    write_whole "$run/log.jsonl" cat "$run"/steps/step-*.json
    step_name_to name "$step"
    # (a run that never validated has no val.jsonl, resumed or not)
    if { [ -n "$all" ] && compgen -G "$run/val/step-*.json" > /dev/null; } || [ -f "$run/val/$name.json" ]; then
        write_whole "$run/val.jsonl" cat "$run"/val/step-*.json
    fi
    # the validated checkpoints stay: best.json names the best of them.
    # Every older one goes, not only step - keep: a kill between the step
    # record and this, or a smaller --keep on resume, left some behind.
    if [ "$keep" -gt 0 ]; then
        # and the newest with AdamW's state stays, which a resume starts from
        # when the ones after it hold the weights only (--state-every)
        local resumable
        resumable=$(resumable_before $((step + 1)))
        for d in "$run"/ckpt/step-[0-9]*; do
            [ -d "$d" ] || continue
            k=${d##*/step-}
            case $k in *[!0-9]*) continue ;; esac # a temporary (step-N.tmp.*) is pic-update's to clear
            k=$((10#$k))
            step_name_to kname "$k"
            [ "$k" -le $((step - keep)) ] && [ "$k" -gt 0 ] && [ "$k" -ne "$resumable" ] &&
                [ ! -f "$run/val/$kname.json" ] && rm -rf "$d"
        done
    fi
    if [ -s "$run/val.jsonl" ] && { [ -n "$all" ] || [ -f "$run/val/$name.json" ]; }; then
        write_whole "$run/best.json" jq -cs 'max_by(.accuracy) as $b | {best_step: $b.step,
            best_accuracy: $b.accuracy, last_step: .[-1].step, last_accuracy: .[-1].accuracy}' "$run/val.jsonl"
        ln -sfn "ckpt/$(step_name "$(jq .best_step "$run/best.json")")" "$run/best"
    fi
}

# resumable_before N: the newest step before N whose checkpoint holds
# AdamW's state (0: the starting model)
resumable_before() {
    local k d
    for ((k = $1 - 1; k > 0; k--)); do
        ckpt_to d "$k"
        [ -f "$d/optimizer.safetensors" ] && [ ! -e "$d/optimizer-not-saved.json" ] && break
    done
    echo "$k"
}

# update_step STEP ROLLOUTS ENTROPY STATE: the controller's alpha, then the
# update of step STEP's checkpoint (STATE false: the weights only, with
# --serve), then the controller's snapshot. Sets update, alpha, controlled,
# logged_target.
update_step() {
    local step=$1 rollouts=$2 entropy=$3 with_state=$4 name prev next state prev_state req
    step_name_to name "$step"
    ckpt_to prev $((step - 1))
    ckpt_to next "$step"
    [ -d "$prev" ] || die "$prev: missing (was it pruned? raise --keep)"
    # The controller's state before this step is the snapshot of the step
    # before, so redoing a step never integrates its error twice.
    state="$run/pictl/$name.json"
    step_name_to prev_state $((step - 1))
    prev_state="$run/pictl/$prev_state.json"
    alpha=0
    local alpha_opts=() alpha_json=null alpha_cmd=
    controlled= logged_target=off
    if [ -n "$entropic" ] && [ "$step" -ge "$control_from" ]; then controlled=1 logged_target=$target; fi
    if [ -n "$controlled" ]; then
        # the controller starts afresh at its first step alone: a snapshot
        # of the step before that is gone (removed by hand, a damaged copy
        # of the run) restarted the integral without a word, and changed
        # every alpha after it
        if [ -f "$prev_state" ]; then cp "$prev_state" "$state.tmp"
        elif [ "$step" -gt "$control_from" ] && [ "$step" -gt 1 ]; then
            die "step $step: $prev_state: missing: the controller's state after step $((step - 1))," \
                "which its integral continues from (restore it, or start a new --run)"
        else rm -f "$state.tmp"; fi
        if [ "$mini_batches" -gt 1 ]; then
            # a word of sh, which runs the command: the run's path may hold a quote
            alpha_cmd="pictl --state '${state//\'/\'\\\'\'}.tmp' ${pictl_opts[*]}"
        elif [ "$entropy" = null ]; then
            # not one response token (every sample ended at once): nothing
            # measured and nothing for the term to weight. The controller
            # holds (its state carries over, as pic-update does off-policy)
            [ -f "$state.tmp" ] || pictl --state "$state.tmp" --reset < /dev/null
            alpha_json=0
        else
            alpha=$(echo "$entropy" | pictl --state "$state.tmp" "${pictl_opts[@]}")
            alpha_json=$alpha
        fi
    elif [ -n "$entropic" ]; then
        alpha_json=0 # the term is off before --control-from
    fi
    if [ -n "$serve" ]; then
        [ -n "$server_pid" ] || serve_start "$prev"
        req=$(jq -cn --arg s "$rollouts" --arg o "$next" --argjson state "$with_state" --argjson a "$alpha_json" \
            --arg c "$alpha_cmd" '{samples: $s, output: $o, state: $state}
                + (if $a != null then {alpha: $a} else {} end) + (if $c != "" then {alpha_cmd: $c} else {} end)')
        # in a subshell: a server gone would end train.sh by SIGPIPE, unsaid
        (printf '%s\n' "$req" 1>&"$server_in") 2>/dev/null || serve_died "$step"
        IFS= read -r update <&"$server_out" || serve_died "$step"
    else
        if [ -n "$alpha_cmd" ]; then alpha_opts=(--alpha-cmd "$alpha_cmd")
        elif [ "$alpha_json" != null ]; then alpha_opts=(--alpha "$alpha_json"); fi
        [ -z "$entropic" ] || alpha_opts+=(--entropic-tokens "$entropic_tokens")
        update=$(launch pic-update -q --model "$prev" --output "$next" "${update_opts[@]}" \
            ${alpha_opts[@]+"${alpha_opts[@]}"} "$rollouts")
    fi
    [ -z "$controlled" ] || publish "$state.tmp" "$state"
    # off-policy, alpha is pic-update's (the mean over its optimizer steps, each one's in
    # its stats line's steps): the record's jq takes it
    [ "$mini_batches" -eq 1 ] || alpha=null
}

# Resume after the last complete step.
last=0
while [ -f "$run/steps/$(step_name $((last + 1))).json" ]; do last=$((last + 1)); done
[ "$last" -eq 0 ] || { say "resuming $run after step $last"; derive "$last" all; }
[ "$last" -lt "$steps" ] || say "$run already has $last steps"
# Steps whose checkpoints hold the weights only (--state-every, a killed
# --serve) cannot be trained on: their updates are taken again from the
# newest checkpoint with AdamW's state, on their saved rollouts, which gives
# the same checkpoints bit for bit (docs/pipelines.md). Also when no step
# is left to take: the run's last checkpoint is one it can resume from.
if [ "$last" -gt 0 ]; then
    from=$(resumable_before $((last + 1)))
    [ "$from" -eq "$last" ] || say "taking the updates of steps $((from + 1))-$last again from step $from's state"
    for ((step = from + 1; step <= last; step++)); do
        rollouts="$run/rollouts/$(step_name "$step").jsonl.zst"
        [ -s "$rollouts" ] || die "$rollouts: missing, and step $step's checkpoint holds no optimizer state"
        stats=$(batch_stats "$rollouts")
        [[ $stats =~ ^\{\"entropy\":([^,]*), ]] || die "$rollouts: no entropy in its stats ($stats)"
        update_step "$step" "$rollouts" "${BASH_REMATCH[1]}" "$([ "$step" -eq "$last" ] && echo true || echo false)"
    done
fi

for ((step = last + 1; step <= steps; step++)); do
    # the step's names without a fork each (docs/pipelines.md, "Per step")
    step_name_to name "$step"
    ckpt_to prev $((step - 1))
    [ -d "$prev" ] || die "$prev: missing (was it pruned? raise --keep)"

    rollouts="$run/rollouts/$name.jsonl.zst"
    if [ ! -s "$rollouts" ]; then
        # ranks read the prompts from a file (stdin reaches rank 0 only)
        batch "$step" > "$rollouts.prompts"
        # the samples go to a plain file as they come, so that a run killed
        # in its rollout takes it up after the last prompt it had finished
        # (--skip keeps each prompt's random streams: the same samples)
        partial="$rollouts.partial"
        resumed=$(resume_partial "$partial" "$rollouts.prompts" "$n")
        [ "$resumed" -eq 0 ] || say "step $step: the rollout resumes after the $resumed prompt$([ "$resumed" -eq 1 ] || echo s) it had finished"
        launch pic-rollout -q --model "$prev" --seed "$((seed * 1000003 + step))" --skip "$resumed" \
            "${rollout_opts[@]}" "$rollouts.prompts" | pic-reward -q --plain ${reward_opts[@]+"${reward_opts[@]}"} >> "$partial"
        write_whole "$rollouts" zstd -q -c "$partial"
        rm -f "$rollouts.prompts" "$partial"
    fi
    rm -f "$rollouts.partial" "$rollouts.prompts" # a kill between the publish and the rm left them
    stats=$(batch_stats "$rollouts")
    # batch_stats writes entropy first: read here rather than by one more jq
    [[ $stats =~ ^\{\"entropy\":([^,]*), ]] || die "$rollouts: no entropy in its stats ($stats)"
    entropy=${BASH_REMATCH[1]}

    # AdamW's state every --state-every steps and at the last
    with_state=false
    [ $((step % state_every)) -ne 0 ] && [ "$step" -ne "$steps" ] || with_state=true
    next="$run/ckpt/$name"
    # the update's outcome, kept until the step's record: a run killed in
    # the step's validation takes the update as it was (the checkpoint it
    # validates not written again), then the validation's finished part.
    # A checkpoint without AdamW's state (--state-every) is taken again, as
    # is one a running server (the updates taken again above) is past.
    kept= upd="$run/updates/$name.json"
    if [ -f "$upd" ] && [ -z "$server_pid" ] && [ "$(resumable_before $((step + 1)))" -eq "$step" ]; then
        saved_update=()
        mapfile -t saved_update < <(jq -r '.alpha, .target, (.update | tojson)' "$upd")
        alpha=${saved_update[0]} logged_target=${saved_update[1]} update=${saved_update[2]} kept=1
        say "step $step: its update was done before (kept: $next)"
    else
        update_step "$step" "$rollouts" "$entropy" "$with_state"
        write_whole "$upd" printf '{"alpha":%s,"target":"%s","update":%s}\n' "$alpha" "$logged_target" "$update"
    fi

    val=null
    if [ "$val_every" -gt 0 ] && [ $((step % val_every)) -eq 0 ]; then
        if [ -n "$kept" ] && [ -s "$run/val/$name.json" ]; then
            val=$(< "$run/val/$name.json") # of this very checkpoint
        else
            # a command substitution does not inherit set -e: its failure is checked here
            val=$(validate "$step" "$next") || die "step $step: validation failed"
            write_whole "$run/val/$name.json" printf '%s\n' "$val"
        fi
    fi

    record=$(jq -cn --argjson step "$step" --argjson rollout "$stats" --argjson update "$update" \
        --arg target "$logged_target" --argjson alpha "$alpha" \
        --argjson val "$val" '
        $update + {step: $step, entropy: $rollout.entropy, reward: $rollout.reward,
                   samples: $rollout.samples, tokens: $rollout.tokens,
                   target: (if $target == "off" then null else ($target | tonumber) end),
                   alpha: ($alpha // $update.alpha // 0), update_entropy: $update.entropy}
        + (if $val != null then {accuracy: $val.accuracy, reflect: $val.reflect} else {} end)')
    write_whole "$run/steps/$name.json" printf '%s\n' "$record"

    derive "$step"
    [ -n "${QUIET:-}" ] || say "$(jq -r 'def r(k): if . == null then "-" else . * k | round / k end;
        "step \(.step): entropy \(.entropy | r(1e4)) alpha \(.alpha | r(1e4)) reward \(.reward | r(1e3))"' <<<"$record")"
done
serve_stop
# the run's last step, also when --steps asks for fewer than it already has
ln -sfn "ckpt/$(step_name $((last > steps ? last : steps)))" "$run/final"
