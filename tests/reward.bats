#!/usr/bin/env bats
# pic-reward: stream mode, one-shot mode, options and errors.
load helpers

@test "reward: one pair prints 1 or 0" {
  run pic-reward --gold '\frac{1}{2}' --pred '0.5'
  [ "$status" -eq 0 ]
  [ "$output" = 1 ]
  run pic-reward --gold '\frac{1}{2}' --pred '0.4'
  [ "$status" -eq 0 ]
  [ "$output" = 0 ]
}

@test "reward: a sentence given as one side is read for its answer, a bare formula or lone word whole" {
  # Math-Verify extracts 3 from each sentence; their letters are no product
  for p in 'The answer is 3' 'The answer is: 3' 'so x is 3' 'We get 3' 'the value is 3' 'x equals 3' '3 apples'; do
    run pic-reward --gold 3 --pred "$p"
    [ "$status" -eq 0 ]
    [ "$output" = 1 ] || { echo "pred: $p"; false; }
  done
  run pic-reward --gold 'The answer is -3.0' --pred '-3'
  [ "$output" = 1 ]
  # still read whole: units, a lone word, letters in braces
  run pic-reward --gold 90 --pred '90 degrees'
  [ "$output" = 1 ]
  run pic-reward --gold '\text{Evelyn}' --pred 'Evelyn'
  [ "$output" = 1 ]
  run pic-reward --gold 'xy' --pred 'yx'
  [ "$output" = 1 ]
  run pic-reward --gold 14 --pred '14 \text{ right triangles}'
  [ "$output" = 1 ]
  run pic-reward --gold 4 --pred 'The answer is 3'
  [ "$output" = 0 ]
}

@test "reward: --explain says how each side was read" {
  run pic-reward --gold '3' --pred 'so \boxed{x = 3}' --explain
  [ "$status" -eq 0 ]
  grep -q 'pred: extracted by boxed: x = 3' <<<"$output"
  grep -q 'verdict: equal' <<<"$output"
}

@test "reward: --extract prints the final answer" {
  run pic-reward --extract 'first \boxed{1} then The final answer is $\frac{2}{3}$. I hope it is correct.'
  [ "$status" -eq 0 ]
  [ "$output" = '\frac{2}{3}' ]
  run pic-reward --extract 'no answer here'
  [ "$status" -eq 0 ]
  [ -z "$output" ]
}

@test "reward: stream adds pred, correct, reward and keeps other fields in order" {
  printf '%s\n' '{"id":1,"answer":"4","response":"2+2=\\boxed{4}","x":[1]}' \
    '{"id":2,"answer":"5","response":"\\boxed{4}"}' \
    '{"id":3,"answer":"5","response":"I do not know"}' >in.jsonl
  run pic-reward --plain -q --wrong -0.5 --unparsable -1 in.jsonl
  [ "$status" -eq 0 ]
  [ "$(sed -n 1p <<<"$output" | jq -c 'keys_unsorted')" = '["id","answer","response","x","pred","correct","reward"]' ]
  [ "$(jq -c '[.pred,.correct,.reward]' <<<"$(sed -n 1p <<<"$output")")" = '["4",true,1]' ]
  [ "$(jq -c '[.pred,.correct,.reward]' <<<"$(sed -n 2p <<<"$output")")" = '["4",false,-0.5]' ]
  [ "$(jq -c '[.pred,.correct,.reward]' <<<"$(sed -n 3p <<<"$output")")" = '[null,false,-1]' ]
  # integral rewards print as integers, others as reals
  grep -q '"reward":1}$' <<<"$(sed -n 1p <<<"$output")"
  grep -q '"reward":-0.5}$' <<<"$(sed -n 2p <<<"$output")"
  grep -q '"reward":-1}$' <<<"$(sed -n 3p <<<"$output")"
  run pic-reward --plain -q --correct 0.75 in.jsonl
  grep -q '"reward":0.75}$' <<<"$(sed -n 1p <<<"$output")"
  grep -q '"reward":0}$' <<<"$(sed -n 2p <<<"$output")"
}

@test "reward: zstd output by default to a file, read back by magic number" {
  printf '%s\n' '{"answer":"1","response":"\\boxed{1}"}' >in.jsonl
  run pic-reward -q -o out.jsonl in.jsonl
  [ "$status" -eq 0 ]
  [ "$(zstdcat out.jsonl | jq -r .correct)" = true ]
  run pic-reward -q --plain out.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -r .correct <<<"$output")" = true ]
}

@test "reward: field options, float precision, strictness, think blocks" {
  printf '%s\n' '{"gold":"0.125","text":"\\boxed{0.13}"}' >in.jsonl
  run pic-reward -q --plain --gold-field gold --response-field text in.jsonl
  [ "$(jq -r .correct <<<"$output")" = false ]
  run pic-reward -q --plain --gold-field gold --response-field text --float-precision 1 in.jsonl
  [ "$(jq -r .correct <<<"$output")" = true ]
  run pic-reward --gold 'f(x)' --pred 'f(y)'
  [ "$output" = 0 ]
  run pic-reward --no-strict --gold 'f(x)' --pred 'f(y)'
  [ "$output" = 1 ]
  run pic-reward --gold 2 --pred '<think>\boxed{2}</think> so \boxed{3}'
  [ "$output" = 0 ]
  run pic-reward --keep-think --gold 2 --pred '<think>so</think> maybe \boxed{2}'
  [ "$output" = 1 ]
}

@test "reward: numeric gold answers are accepted" {
  printf '%s\n' '{"answer":72,"response":"\\boxed{72}"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$(jq -r .correct <<<"$output")" = true ]
}

@test "reward: a numeric gold with an exponent is that number, not e times it" {
  # a JSON real prints as 1e-06: read as LaTeX, that is 1 times Euler's e, minus 6
  printf '%s\n' '{"answer":1e-6,"response":"\\boxed{0.000001}"}' '{"answer":1e21,"response":"\\boxed{10^{21}}"}' \
    '{"answer":2.5e-5,"response":"\\boxed{2.5 \\times 10^{-5}}"}' \
    '{"answer":2.5e-5,"response":"\\boxed{3 \\times 10^{-5}}"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -c .correct <<<"$output" | tr '\n' ' ')" = 'true true true false ' ]
}

@test "reward: a response of many plain numbers is read in linear time" {
  # a degenerate sample ("1 2 3 ..."): each number's arithmetic scan ran to the text's end, 8,000 numbers took 1.5 s
  seq 60000 | paste -sd' ' | jq -Rc '{answer: "60000", response: .}' >big.jsonl
  seq 60000 | paste -sd'+' | sed 's/+/ + /g' | jq -Rc '{answer: "1", response: .}' >>big.jsonl
  run timeout 10 pic-reward -q --plain big.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -c .correct <<<"$output" | paste -sd,)" = true,false ]
}

@test "reward: a bad record names file, line and field" {
  printf '%s\n' '{"answer":"1","response":"\\boxed{1}"}' '{"answer":"1"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  fails_with 1 "in.jsonl:2: field 'response'"
  printf '%s\n' '{"answer":"1","response":7}' >bad.jsonl
  run pic-reward -q --plain bad.jsonl
  fails_with 1 "bad.jsonl:1: field 'response'.*string"
  # a gold may be a number too, and the message says so
  printf '%s\n' '{"answer":[1],"response":"\\boxed{1}"}' >bad.jsonl
  run pic-reward -q --plain bad.jsonl
  fails_with 1 "bad.jsonl:1: field 'answer': expected a string or a number"
}

@test "reward: --skip-bad skips and counts" {
  printf '%s\n' '{"answer":"1","response":"\\boxed{1}"}' '{"answer":"1"}' 'not json' '{"answer":"1","answer":"2","response":"1"}' >in.jsonl
  run pic-reward --plain --skip-bad in.jsonl
  [ "$status" -eq 0 ]
  grep -q '3 bad records skipped' <<<"$output"
  [ "$(grep -c '"reward"' <<<"$output")" -eq 1 ]
}

@test "reward: a box repeated close after itself is listed once" {
  # latex2sympy2_extended extract_boxed_content: "if not results or
  # results[-1] != content" keeps one of two equal neighbouring boxes
  run pic-reward --extract '\boxed{1} so \boxed{1}'
  [ "$status" -eq 0 ]
  [ "$output" = '1' ]
  run pic-reward --extract '\boxed{1} so \boxed{2}'
  [ "$output" = '1,2' ]
}

@test "reward: a failed write of --gold/--pred or --extract exits 1" {
  [ -w /dev/full ] || skip "no /dev/full"
  run bash -c 'pic-reward --gold 1 --pred "\\boxed{1}" >/dev/full'
  fails_with 1 "^pic-reward: standard output \(/dev/full\): write error: No space left on device$"
  run bash -c 'pic-reward --extract "\\boxed{1}" >/dev/full'
  fails_with 1 "^pic-reward: standard output \(/dev/full\): write error: No space left on device$"
}

@test "reward: usage errors exit 2 and name the option" {
  run pic-reward --gold 1
  fails_with 2 'go together'
  run pic-reward --float-precision x --gold 1 --pred 1
  fails_with 2 'float-precision'
  run pic-reward --bogus
  [ "$status" -eq 2 ]
  # the stream mode's options are refused by the one-pair modes, not ignored
  for opt in "-o x" "--output=x" --plain "--level 5" --timing --skip-bad "--correct 2" "--wrong -1" \
      "--unparsable -1" "--gold-field g" "--response-field r"; do
    run pic-reward --gold 5 --pred 5 $opt
    fails_with 2 "option of the stream mode"
    run pic-reward --extract 5 $opt
    fails_with 2 "option of the stream mode"
  done
  [ ! -e x ]
  run pic-reward --help
  [ "$status" -eq 0 ]
  grep -q 'Usage: pic-reward' <<<"$output"
  run pic-reward --version
  [ "$status" -eq 0 ]
  grep -q 'pic-reward (pic)' <<<"$output"
}

@test "reward: --extract refuses the options of the comparison, which it never makes" {
  # --extract only extracts: --no-strict and the others were taken and did nothing
  for opt in --no-strict --set-relation "--float-precision 2" "--float-precision 6"; do
    run pic-reward --extract '\boxed{1}' $opt
    fails_with 2 "^pic-reward: ${opt%% *}: .*--extract"
  done
  run pic-reward --extract '\boxed{1}' --no-boxed --keep-think
  [ "$status" -eq 0 ]
}

@test "reward: grader outputs agree with the Qwen2.5-Math labels" {
  run bash -c "pic-reward -q --plain --gold-field gold '$FIXTURES/reward/qwen25math-math-cot-100.jsonl' |
    jq -s '[.[] | select(.correct == .qwen_score)] | length'"
  [ "$status" -eq 0 ]
  echo "agreement: $output / 560" >&3
  [ "$output" -ge 532 ] # 95%
}

@test "reward: --set-relation lets an inequality answer a gold set, as Math-Verify's allow_set_relation_comp" {
  run pic-reward --gold '[-2, 7]' --pred '$-2 \le x \le 7$'
  [ "$status" -eq 0 ]
  [ "$output" = 0 ]
  run pic-reward --set-relation --gold '[-2, 7]' --pred '$-2 \le x \le 7$'
  [ "$status" -eq 0 ]
  [ "$output" = 1 ]
  # a gold inequality accepts the same set either way
  run pic-reward --gold '-2 \le x \le 7' --pred '$x \in [-2, 7]$'
  [ "$output" = 1 ]
}

@test "reward: a choice letter matches a letter gold, boxed or after 'the answer is'" {
  run pic-reward --gold 'C' --pred 'so the answer is (C).'
  [ "$output" = 1 ]
  run pic-reward --gold '(B) 7' --pred 'Thus \boxed{\textbf{(B)}\ 7}'
  [ "$output" = 1 ]
  run pic-reward --gold 'B' --pred 'The answer is \boxed{C}. B is wrong'
  [ "$output" = 0 ]
  # the letter chosen is the record's pred, right or wrong: a wrong letter is
  # an answer (--wrong), not a missing one (--unparsable)
  for r in 'The answer is (C).' 'The answer is (B).' 'no letter here'; do
    jq -cn --arg r "$r" '{answer: "C", response: $r}'
  done > in.jsonl
  run pic-reward -q --plain --unparsable -1 in.jsonl
  [ "$(jq -c '[.pred, .correct, .reward]' <<<"$output" | tr '\n' ' ')" = '["C",true,1] ["B",false,0] [null,false,-1] ' ]
  run pic-reward --plain --unparsable -1 in.jsonl
  [[ "$output" == *"3 records, 1 correct, 1 without an answer" ]]
  run pic-reward --gold C --pred 'The answer is (B).' --explain
  [[ "$output" == *"verdict: not equal"* ]]
}

@test "reward: a choice letter boxed inside <think> is scratch work, not the answer" {
  # the letter after </think> decides; a box in the thinking neither answers nor overrides it
  verdicts C '<think>maybe \boxed{B}? no.</think> The answer is C.' 1 \
    C '<think>maybe \boxed{C}?</think> The answer is B.' 0 \
    C '<think>so \boxed{C}</think>' 0 C '<think>so \boxed{C}' 0
  run pic-reward --keep-think --gold C --pred '<think>so \boxed{C}</think>'
  [ "$output" = 1 ]
}

@test "reward: a choice letter's windows after 'answer' and 'final answer' count characters, as Python's '.' does" {
  # 18 CJK characters are 54 bytes: within 50 characters of 答案, and two
  # runs of them within the 100 before ' is'; counted in bytes, the later
  # lone C was the answer
  z=经过仔细的计算与分析我们可以得出结论
  verdicts B "答案：$z B。
选项 C 是错的" 1 B "The final answer, after $z$z, is B. Then C" 1
}

@test "reward: a choice gold in a text command, as MATH writes it, takes a letter as a bare one does" {
  verdicts '\text{(C)}' 'The answer is (C).' 1 '\mathrm{(B)}' '**Answer: B**' 1 \
    '\text{C}' 'Thus \boxed{\textbf{(C)}\ 12}' 1 '\text{(C)}' 'The answer is (D).' 0 \
    '\textbf{(E)}' 'Thus \boxed{\textbf{(D)}\ 12}' 0
  # a list of letters, some past E (MATH's "graphs that have inverses"), is no choice: A alone is wrong
  verdicts 'A, D, F, G, H' '\boxed{A}' 0 '\text{A, D, F, G, H}' 'The answer is A.' 0 'B and G' '\boxed{B}' 0 \
    'A, D, F, G, H' '\boxed{A, D, F, G, H}' 1
  # a gold of capital letters and an operator is math, not the choice of its first letter
  verdicts 'A + B' '\boxed{A}' 0 'B - A' 'The answer is B.' 0 'A + B' '\boxed{B + A}' 1 \
    'C Mary-Jane' 'The answer is C.' 1
}

@test "reward: a NUL in a gold answer does not cut it, as in a response" {
  # "so 1\u0000 2" is read to its end: its last number is 2, not the 1 before the NUL
  printf '%s\n' '{"answer":"so 1\u0000 2","response":"\\boxed{1}"}' '{"answer":"so 1\u0000 2","response":"\\boxed{2}"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -c .correct <<<"$output" | tr '\n' ' ')" = 'false true ' ]
}

# GOLD PRED VERDICT ...: each one-pair verdict, exit 0, as given
verdicts() {
  while [ $# -ge 3 ]; do
    run pic-reward --gold "$1" --pred "$2"
    [ "$status" -eq 0 ] && [ "$output" = "$3" ] || { echo "gold $1, pred $2: $output ($status), expected $3"; return 1; }
    shift 3
  done
}

@test "reward: plain arithmetic opening with a parenthesis; a bare gold with a comma is a list, as MATH-500 writes one" {
  verdicts 9 'so the answer is (1+2)*3' 1 '(1,2)' '(1, 2)' 1 '1,000' '1000' 1 '$1,5$' '1.5' 0
  # MATH-500's "Enter all the integer roots, separated by commas": -2,1
  verdicts '-2,1' 'The roots are $\boxed{-2, 1}$.' 1 '1,3' '\boxed{1, 3}' 1 '1,5' '\boxed{1.5}' 0
}

@test "reward: a plain percentage answers a gold of its digits, as Math-Verify's fallback strings compare; a bare gold 1 000 is one number" {
  # "50%" falls back to "50" (the number pattern's number_str); a boxed 50\% falls back to "50\%"
  verdicts 50 'The answer is 50%.' 1 25 '#### 25%' 1 12.5 'The answer is 12.5 percent' 1 0.5 'The answer is 50%.' 1
  verdicts 50 'The answer is 51%.' 0 50 '$\boxed{50\%}$' 0
  # thousands grouped by spaces: Math-Verify's number pattern, not a LaTeX product
  verdicts '1 000' 1000 1 '1 000 000' 'so it is 1000000' 1 '-1 234' '-1234' 1
}

@test "reward: a thousands group takes three digits of a longer run, and a space group can open arithmetic, as Math-Verify's number pattern" {
  # (?:[ ,]\d{3})+ without a lookahead: "1,2345" is 1234 there, not 1.2345
  verdicts 1234 'The answer is 1,2345.' 1 1.2345 'The answer is 1,2345.' 0 1234 'The numbers are 1 2345.' 1
  verdicts 1234567 'The answer is 1,234,5678.' 1 2500 'She has 2,5000 coins' 1
  # "1 000 + 3" is its expression, which Python rejects: the rightmost number is the answer
  verdicts 3 'The answer is 1 000 + 3' 1 1000 'The answer is 1 000 + 3' 0 1000 'The answer is 1,000 + 3' 1
}

@test "reward: the windows after an answer word count characters, as Python's '.' matches them, not bytes" {
  # 46 characters, 54 bytes between "answer" and " 18": Math-Verify's answer.{0,50}? reaches it
  verdicts 18 $'The answer to Janet\u2019s question \u2014 she\u2019ll make, each day \u2014 is 18.\nCheck: 3 + 4 = 7' 1
  verdicts 18 $'The answer to Janet\u2019s question \u2014 she\u2019ll make, each day \u2014 is $18$.\nCheck: 3 + 4 = 7' 1
  verdicts 18 $'Answer: \u5979\u6bcf\u5929\u8d5a\u7684\u94b1\u4e00\u5171\u662f\u591a\u5c11\u5462\uff1f\u6211\u4eec\u7b97\u4e00\u4e0b\uff0c\u4e00\u5171\u662f 18 \u7f8e\u5143\u3002\nCheck: 3 + 4 = 7' 1
  # final answer.{0,100}?\s+is: 95 characters, 105 bytes
  verdicts 18 $'The final answer to Janet\u2019s question \u2014 what she\u2019ll make, each day, at the farmers\u2019 market \u2014 after all her costs is 18.\nCheck: 3 + 4 = 7' 1
  # past 50 characters the rightmost number is the answer
  verdicts 7 $'The answer to Janet\u2019s question\u2014how much she\u2019ll make each day\u2014is 18.\nCheck: 3 + 4 = 7' 1
}

@test "reward: a bare gold is normalized as a boxed answer is: its final period dropped, a doubled backslash one, \\mathrm{d} a d" {
  # DeepScaleR's MATH golds end some answers with a period ("-\frac{5}{3}.")
  verdicts '-\frac{5}{3}.' '$\boxed{-\frac53}$' 1 '30^\circ.' '\boxed{30^\circ}' 1 '\frac{5}{3}.' '\boxed{2}' 0
  # Omni-MATH's "108^{\\circ}"; latex2sympy2_extended's command_slash_fix, except in a matrix
  verdicts '108^{\\circ}' '$\boxed{108}$' 1 '\int_0^1 x \mathrm{d} x' '$\boxed{\int_0^1 x dx}$' 1
}

@test "reward: a bare gold that does not parse is its text, as Math-Verify reads a boxed gold; no number is taken out of it" {
  # latex2sympy's numbers have digits after the point, so 0.\overline{3} fails and stays a string
  verdicts '0.\overline{3}' '\boxed{0}' 0 '0.\overline{3}' '\boxed{0.\overline{3}}' 1 '1.\overline{27}' 'so it is 1' 0
  printf '%s\n' '{"answer":"0.\\overline{3}","response":"\\boxed{0}"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -c .correct <<<"$output")" = false ]
}

@test "reward: dollars inside a box go before its units, as latex2sympy2_extended's basic step removes them" {
  verdicts 5 'The length is \boxed{$5\text{ cm}$}.' 1 12 '\boxed{$12 apples$}' 1 6 '\boxed{$6m$}' 1
  verdicts 5 '\boxed{$6\text{ cm}$}' 0 12.5 '\boxed{\$12.50}' 1
}

@test "reward: quotes go before the units, as latex2sympy2_extended's basic step removes them" {
  verdicts 5 "\\boxed{5'}" 1 12 'The height is \boxed{12"}.' 1 5 "\\boxed{6'}" 0 5 "The answer is \$5'\$." 1
}

@test "reward: Unicode spaces are spaces where Math-Verify's patterns read \\s, and no space inside a formula" {
  verdicts 5 $'The answer is\u00a05.' 1 5 $'\\boxed{5\u00a0cm}' 1 5 $'\\boxed{5\u2009cm}' 1 C $'The answer is\u00a0C.' 1
  # latex2sympy's lexer and Python's tokenizer take ASCII spaces only; its number pattern's groups too
  verdicts 5 $'\\boxed{2\u2009+\u20093}' 0 1000 $'The answer is 1\u2009000.' 0 1 $'The answer is 1\u2009000.' 1
  printf '{"answer":"5","response":"The answer is\\u00a05."}\n' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -r .pred <<<"$output")" = $'5' ]
}

@test "reward: (A)_{B} is a falling factorial, as latex2sympy2_extended's permutation_regex rewrites it" {
  verdicts 20 '\boxed{(5)_{2}}' 1 5 '\boxed{(5)_{2}}' 0 20 '$\left(5\right)_{2}$' 1
  verdicts '\frac{n!}{(n-k)!}' '\boxed{(n)_{k}}' 1
  # without braces latex2sympy's grammar gives a group no subscript
  verdicts '(5)_{2}' '\boxed{20}' 1 5 '\boxed{(5)_2}' 0
}

@test "reward: a gold that is GSM8K's raw answer field is its number after ####, as verl reads it" {
  verdicts $'1000-356=<<1000-356=644>>644 times\n644+865=<<644+865=1509>>1509 times\n#### 1509' '\boxed{1509}' 1
  verdicts $'to convert the answer to weeks: 28 days / 7 = <<28/7=4>>4 weeks\n#### 4' '\boxed{4}' 1
  verdicts $'3 * 400 = <<3*400=1200>>1200\n#### 1,200' '\boxed{1200}' 1 $'#### 18\n#### 19' '\boxed{18}' 0
  # a later "####" with no number after it leaves the last one's (it overwrote its first byte)
  verdicts $'#### 18\n#### -x' '\boxed{18}' 1
  printf '%s\n' '{"answer":"She makes 9 * 2 = $<<9*2=18>>18 a day.\n#### 18","response":"\\boxed{18}"}' >in.jsonl
  run pic-reward -q --plain in.jsonl
  [ "$status" -eq 0 ]
  [ "$(jq -c .correct <<<"$output")" = true ]
}

@test "reward: a Unicode Greek letter is the symbol its command names, as latex2sympy2_extended's lexer reads it" {
  verdicts '\alpha' '\boxed{α}' 1 '2\alpha' '\boxed{2α}' 1 '2\beta' '\boxed{2α}' 0
  verdicts '\frac{\pi}{4}' '\boxed{θ = \frac{π}{4}}' 1 '\theta' '\boxed{Θ}' 1 '\sin\theta' 'The answer is $\sin θ$.' 1
  # symbols.py's GREEK_LETTER_MAP: ϵ is \varepsilon, not \epsilon
  verdicts '\varepsilon' '\boxed{ϵ}' 1 '\epsilon' '\boxed{ϵ}' 0
}

@test "reward: Unicode operators are latex2sympy2_extended's tokens: ≈ an approximation, ≡ an equation, ∙ a product, ℝ the reals" {
  verdicts 3.14 '\boxed{x ≈ 3.14}' 1 '\frac{1}{3}' '\boxed{\frac{1}{3} ≈ 0.2}' 1 254 'We get $N ≡ 254$.' 1
  verdicts 6 '\boxed{2∙3}' 1 6 '\boxed{2∗3}' 1 '\frac{1}{2}' '\boxed{1∕2}' 1
  verdicts 'x \le 3' '\boxed{x ≦ 3}' 1 'x > 3' '\boxed{x ≧ 3}' 0 '\mathbb{R}' '\boxed{ℝ}' 1 '\mathbb{R}' '\boxed{ℚ}' 0
}

@test "reward: math environments chain from the left, six to a match, as Python's finditer takes Math-Verify's pattern" {
  # seven in a row are a match of six and the last alone, which ends later
  seven='The values are $1$, $2$, $3$, $4$, $5$, $6$, $7$'
  run pic-reward --extract "$seven"
  [ "$output" = 7 ]
  run pic-reward --extract "$seven, \$8\$"
  [ "$output" = 7,8 ]
  verdicts 7 "$seven" 1 '2,3,4,5,6,7' "$seven" 0
  run pic-reward --extract 'The values are $1$, $2$, $3$, $4$, $5$, $6$'
  [ "$output" = 1,2,3,4,5,6 ]
}

@test "reward: a sine or cosine of a multiple of pi/2 that is 0 is 0, as SymPy evaluates it, so a sum keeps its other terms" {
  # at 200 bits cos(pi/2) came out near 2^-200, which a sum then lost as a
  # term wholly below the other's bits, leaving the sum undefined
  verdicts 1 '\boxed{1+\cos\frac{\pi}{2}}' 1 1 '\boxed{\sin\pi + 1}' 1 1 '\boxed{1 - \tan(2\pi)}' 1
  # an even root of a negative number and a complex exponent: SymPy's 2I, I
  verdicts '3+4i' '\boxed{3+\sqrt{-16}}' 1 '-1+i\sqrt{3}' '\boxed{-1+\sqrt{-3}}' 1 \
    '2+2i' '\boxed{2+2e^{i\pi/2}}' 1 '3-4i' '\boxed{3+\sqrt{-16}}' 0
  # so do terms that cancel below their rounding: SymPy's cos(pi/3) is 1/2
  verdicts 1 '\boxed{\cos\frac{\pi}{3} - \frac{1}{2} + 1}' 1 \
    5 '\boxed{(\cos\frac{\pi}{3} - \frac{1}{2}) \cdot 10^{100} + 5}' 1
  # a small value that is not a zero stays itself
  verdicts 1 '\boxed{\frac{\sin(10^{-70})}{10^{-70}}}' 1
}

@test "reward: a gold assignment's left side is a name as latex2sympy builds it: sqrt and ln hold numbers, x/2 and e^x do not" {
  # is_expr_of_only_symbols on SymPy's objects: sqrt(x) = Pow(x, 1/2), \ln x = log(x, E): equations
  verdicts '\sqrt{x} = 3' '\boxed{3}' 0 '\ln x = 2' '\boxed{2}' 0 '\frac{1}{x} = 2' '\boxed{2}' 0
  # x * Pow(2, -1) and exp(x): names, so the right side is the value
  verdicts '\frac{x}{2} = 3' '\boxed{3}' 1 'e^x = 2' '\boxed{2}' 1 '\log_b x = 3' '\boxed{3}' 1
}
