/* Comparing a model against llama.cpp's reference data (../shared/reference,
 * see its README): NBLG logits of the prompt, greedy tokens and margins,
 * compare.tsv gaps. Used by test_forward.c (llama) and test_arch.c. */
#ifndef NB_SUPPORT_REFERENCE_H
#define NB_SUPPORT_REFERENCE_H

#include "nibble.h"

typedef struct nb_ref_result {
    int ran;              /* 0: the model or reference could not be read */
    double max_err;       /* max |logit - reference| over prompt positions */
    int matched;          /* greedy tokens equal to the reference's ...     */
    int comparable;       /* ... out of the steps before the first margin
                           * below min_margin                               */
    int32_t n_tokens;
    int32_t tokens[64];   /* the reference's prompt tokens                  */
} nb_ref_result;

/* Run model_path over the prompt of ref_dir token by token; logits at every
 * position must be within tol, greedy tokens equal up to the first step
 * whose margin is below min_margin. Records failures through the harness
 * (prefixed by label) and prints one line. */
nb_ref_result nb_ref_check_dir(const char *model_path, const char *ref_dir, double tol,
                               double min_margin, nb_ctx_params cp, const char *label);

/* The max_abs_diff of compare.tsv for model/type/variant ("deqf32",
 * "kvf32"; NULL: the first row of model/type); -1 if none. */
double nb_ref_gap(const char *shared, const char *model, const char *type, const char *variant);

/* Type directories of shared/reference/<model> (sorted); those ending in
 * `suffix` ("-deqf32"), or with no '-' when suffix is NULL. */
int nb_ref_list_dirs(const char *dir, const char *suffix, char names[][64], int max);

#endif
