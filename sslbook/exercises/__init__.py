"""Checkers behind the end-of-chapter exercises, one module per chapter.

Each ``check_*`` function takes the student's answer, tests it on fixed inputs
and either prints a one-line confirmation or raises :class:`ExerciseError`
(an ``AssertionError``) with a message a student can act on. An unanswered
exercise (the student copy's stub returns ``None``) fails with a message that
says so. What the checkers share (messages, calling the student's function,
reading any form of a numeric answer, noticing an ignored parameter, hints for
known mistakes) is in ``_common``.

Only the checkers are public: the reference answers they compare with are
private helpers of each chapter's module, so that no public name hands out a
solution.
"""

from . import ch4 as _ch4
from ._common import ExerciseError
from .ch1 import SCENARIOS, SIGNAL_KINDS, check_labels_needed, check_signal_kinds
from .ch2 import check_ideal_loss, check_positive_top1
from .ch3 import (check_augmentation_choice, check_barlow_twins, check_bert_masking, check_collapse_std,
                  check_momentum_update, check_sinkhorn_step, check_triplet, check_which_factor)
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

# Chapter 4's checkers follow its chapter: export every check_* it defines.
_CH4 = sorted(name for name in vars(_ch4) if name.startswith("check_"))
globals().update({name: getattr(_ch4, name) for name in _CH4})

__all__ = [
    "ExerciseError", "SCENARIOS", "SIGNAL_KINDS", "check_article_params", "check_augmentation_choice",
    "check_barlow_twins", "check_bert_masking", "check_chance_precision", "check_clip_loss", "check_collapse_std", "check_corruption",
    "check_dynamic_quantization", "check_ideal_loss", "check_knn", "check_labels_needed", "check_mean_pool",
    "check_momentum_update", "check_nearest_words", "check_negative_weights", "check_occlusion",
    "check_positive_top1", "check_precision_at_k", "check_queue", "check_scalar_logger", "check_signal_kinds",
    "check_sinkhorn_step", "check_slowest_function", "check_standard_error", "check_step_speedup", "check_triplet", "check_verdict",
    "check_which_factor",
]
__all__ += _CH4  # noqa: PLE0605 - chapter 4's checkers, whatever their names
