/*
 * What every harness under tests/fuzz provides. Linked with
 * -fsanitize=fuzzer (meson -Dfuzzing=true) a harness is a libFuzzer
 * target; linked with replay.c it is a plain program that runs each file
 * of the corpus folders named on its command line once, so the corpus is
 * a regression test in the normal suite. A harness signals a finding by
 * crashing (abort), which both modes report.
 */
#ifndef TESTS_FUZZ_FUZZ_H
#define TESTS_FUZZ_FUZZ_H

#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* abort() naming the broken invariant, so a replay failure says what. */
#define FUZZ_CHECK(cond)                                                   \
	do {                                                               \
		if (!(cond))                                               \
			fuzz_fail(__FILE__, __LINE__, #cond);              \
	} while (0)

void fuzz_fail(const char *file, int line, const char *what);

#endif
