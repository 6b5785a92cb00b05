# Unit tests of src/common.
$(eval $(call UNIT,test_common,tests/unit/test_common.c,common))
