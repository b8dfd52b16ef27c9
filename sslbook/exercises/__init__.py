"""Checkers behind the end-of-chapter exercises, one module per chapter.

Each ``check_*`` function takes the student's answer, tests it on fixed inputs
and either prints a one-line confirmation or raises :class:`ExerciseError`
(an ``AssertionError``) with a message a student can act on. An unanswered
exercise (the student copy's stub returns ``None``) fails with a message that
says so. What the checkers share (messages, calling the student's function,
hints for known mistakes) is in ``_common``.
"""

from ._common import ExerciseError
from .ch1 import SCENARIOS, SIGNAL_KINDS, check_labels_needed, check_signal_kinds
from .ch2 import check_ideal_loss, check_positive_top1
from .ch3 import (
           check_bert_masking,
           check_collapse_std,
           check_triplet,
           check_which_factor,
)
from .ch4 import check_bits, check_margin_gradient, check_predicted_loss
from .ch5 import check_article_params, check_knn, check_queue
from .ch6 import (
           check_chance_precision,
           check_corruption,
           check_mean_pool,
           check_nearest_words,
           check_precision_at_k,
           check_verdict,
)
from .ch7 import check_scalar_logger, check_slowest_function, check_step_speedup
from .ch8 import check_clip_loss, check_dynamic_quantization, check_occlusion
from .ch9 import check_negative_weights, check_standard_error

__all__ = ["ExerciseError", "SCENARIOS", "SIGNAL_KINDS", "check_article_params", "check_bert_masking", "check_bits",
           "check_collapse_std", "check_ideal_loss", "check_knn", "check_labels_needed", "check_margin_gradient",
           "check_positive_top1", "check_predicted_loss", "check_queue", "check_signal_kinds", "check_triplet",
           "check_which_factor", "check_chance_precision", "check_corruption", "check_mean_pool",
           "check_nearest_words", "check_precision_at_k", "check_verdict",
           "check_clip_loss", "check_dynamic_quantization", "check_occlusion",
           "check_negative_weights", "check_standard_error",
           "check_scalar_logger", "check_slowest_function", "check_step_speedup"]
