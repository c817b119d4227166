"""Truth inference over redundant labels, with crowd-kit's API and a C++ core.

Estimators take a DataFrame with columns ``task, worker, label`` and follow
sklearn: ``fit``, ``fit_predict`` (Series task -> label),
``fit_predict_proba`` (DataFrame task x label), fitted ``labels_``,
``probas_``, ``skills_``, ``errors_`` (Dawid-Skene), ``n_iter_``,
``converged_``. ``est.quality()`` reports uncertain tasks, likely-wrong
answers and worker accuracy with confidence intervals; :class:`CROWDLAB` adds
a model's predictions as an annotator. The functions ``dawid_skene(tasks,
workers, labels, n_labels)`` etc. are the numpy fast path.
"""

from .arrays import (ConsensusResult, crowdlab, dawid_skene, glad, mace, majority_vote, one_coin_dawid_skene,
                     wawa, weighted_majority_vote, zero_based_skill)
from .base import Answers, BaseClassifier, factorize
from .continuous import Median, TrimmedMean
from .confusion import DawidSkene, OneCoinDawidSkene
from .difficulty import GLAD
from .spammer import MACE
from .voting import GoldMajorityVote, MajorityVote, WeightedMajorityVote
from .spectral import KOS, MMSR
from .quality import CROWDLAB, LabelQuality, label_quality
from .registry import METHODS, get_method
from .agreement import Wawa, ZeroBasedSkill
from .fraud import FraudRules, fraud_report
from . import metrics
from .active import next_items
from .bayes import BCC, BWA, CBCC, EBCC, CommunityBCC
from . import distributed
from .stream import fit_parquet

__all__ = [
    "MajorityVote", "WeightedMajorityVote", "DawidSkene", "OneCoinDawidSkene", "GLAD", "MACE", "Wawa",
    "ZeroBasedSkill", "Median", "TrimmedMean", "CROWDLAB", "LabelQuality", "label_quality",
    "get_method", "METHODS", "BaseClassifier", "Answers", "factorize", "ConsensusResult",
    "majority_vote", "weighted_majority_vote", "dawid_skene", "one_coin_dawid_skene", "glad", "mace", "wawa",
    "zero_based_skill", "crowdlab", "distributed", "fit_parquet",
    "FraudRules", "fraud_report", "metrics", "next_items", "BCC", "BWA", "CBCC", "CommunityBCC", "EBCC", "GoldMajorityVote", "KOS", "MMSR",
]

# Families beyond classification (crowd-kit's pairwise, image, embeddings and
# texts aggregators, and tagger's bounding boxes).
from .bbox import BoxMajorityVote
from .embeddings import HRRASA, RASA, ClosestToAverage
from .image import SegmentationEM, SegmentationMajorityVote, SegmentationRASA
from .pairwise import BradleyTerry, NoisyBradleyTerry, NoisyBT
from .texts import ROVER, TextHRRASA, TextRASA

__all__ += [
    "BradleyTerry", "NoisyBradleyTerry", "NoisyBT", "SegmentationMajorityVote", "SegmentationRASA", "SegmentationEM",
    "ClosestToAverage", "RASA", "HRRASA", "ROVER", "TextRASA", "TextHRRASA", "BoxMajorityVote",
]

from .base import _adopt_crowdkit_base

_adopt_crowdkit_base()  # when crowd-kit was imported first
