# transformers loads the checkpoints pic writes, tokenizes as pic does, and
# agrees with pic-rollout --score (run by tests/hf/roundtrip.sh).
import json, sys, torch
from transformers import AutoModelForCausalLM, AutoTokenizer
import transformers
print("transformers", transformers.__version__, "torch", torch.__version__)
worst = 0.0
for m in ["init", "sft", "q3", "llama"]:
    model = AutoModelForCausalLM.from_pretrained(m, torch_dtype=torch.float32).eval()
    tok = AutoTokenizer.from_pretrained(m)
    for line in open(f"{m}.scored.jsonl"):
        r = json.loads(line)
        ids_p = tok(r["prompt"], add_special_tokens=False)["input_ids"]
        ids_r = tok(r["response"], add_special_tokens=False)["input_ids"]
        assert ids_p == r["prompt_ids"], (m, "prompt ids differ", ids_p, r["prompt_ids"])
        assert ids_r == r["response_ids"], (m, "response ids differ")
        assert tok.decode(ids_r) == r["response"], (m, "decode differs")
        ids = torch.tensor([ids_p + ids_r])
        with torch.no_grad():
            logits = model(ids).logits[0].double() / 0.6
        lp = torch.log_softmax(logits, -1)
        n = len(ids_r)
        rows = lp[len(ids_p) - 1: len(ids_p) - 1 + n]
        want_lp = rows.gather(1, torch.tensor(ids_r)[:, None])[:, 0]
        want_h = -(rows.exp() * rows).sum(-1)
        d1 = (want_lp - torch.tensor(r["logprobs"], dtype=torch.double)).abs().max().item()
        d2 = (want_h - torch.tensor(r["entropy"], dtype=torch.double)).abs().max().item()
        worst = max(worst, d1, d2)
    print(m, model.config.model_type, "ok: max |d logp|, |d H| =", d1, d2)
print("worst", worst)
sys.exit(0 if worst < 1e-4 else 1)
