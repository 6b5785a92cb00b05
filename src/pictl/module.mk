# src/pictl: the EntroPIC controller (a library shared by both modes) and pictl.
$(eval $(call LIB,pictl,src/pictl/controller.c))
$(eval $(call PROG,pictl,src/pictl/main.c src/pictl/simulate.c,pictl common))
$(eval $(call UNIT,test_pictl,tests/unit/test_pictl.c,pictl common))
