# pic-reward: the math answer verifier (docs/reward.md).
REWARD_SRC := src/reward/ast.c src/reward/lex.c src/reward/parse.c src/reward/primary.c src/reward/bigop.c src/reward/gcd.c src/reward/eval.c src/reward/numeq.c \
              src/reward/realset.c src/reward/equiv.c src/reward/extract.c src/reward/extract_env.c src/reward/extract_plain.c \
              src/reward/extract_anchored.c src/reward/extract_boxed.c src/reward/choice.c src/reward/reward.c \
              src/reward/countdown.c src/reward/countdown_stream.c src/reward/textsearch.c src/reward/units.c src/reward/normalize.c
$(eval $(call LIB,reward,$(REWARD_SRC)))
$(eval $(call UNIT,test_reward_cases,tests/unit/test_reward_cases.c,reward common,-lmpfr -lgmp))
$(eval $(call PROG,pic-reward,src/reward/main.c,reward common,-lmpfr -lgmp))
$(eval $(call UNIT,test_reward,tests/unit/test_reward.c,reward common,-lmpfr -lgmp))
$(eval $(call UNIT,test_reward_families,tests/unit/test_reward_families.c,reward common,-lmpfr -lgmp))
$(eval $(call UNIT,test_countdown,tests/unit/test_countdown.c,reward common,-lmpfr -lgmp))
