"""The reason codes a verification can report: stable strings, each with a default
severity and a one-line meaning. docs/verification.md carries the same table."""

from __future__ import annotations

from types import MappingProxyType

ACCEPTED, NEEDS_REVIEW, REJECTED = "accepted", "needs_review", "rejected"
STATUSES = (ACCEPTED, NEEDS_REVIEW, REJECTED)
IGNORE = "ignore"  # a severity override that drops a reason

_TABLE: dict[str, tuple[str, str]] = {
    # any kind
    "empty": (REJECTED, "the upload has no bytes"),
    "too_large": (REJECTED, "the upload is larger than the task's max_bytes"),
    "wrong_type": (REJECTED, "the bytes are another kind of file than the declared kind"),
    "duplicate_in_task": (REJECTED, "the same bytes (SHA-256) were already uploaded to this task"),
    "duplicate_in_network": (REJECTED, "the same bytes (SHA-256) were already uploaded to another task"),
    # text (also the decoding step of json and csv)
    "invalid_utf8": (REJECTED, "the bytes are not valid UTF-8"),
    "text_too_short": (REJECTED, "fewer code points than text_min_chars"),
    "text_too_long": (REJECTED, "more code points than text_max_chars"),
    "control_characters": (REJECTED, "too many control characters (binary data declared as text)"),
    "no_letters": (REJECTED, "no letters at all (only digits, punctuation, symbols)"),
    "script_mismatch": (REJECTED, "too few letters in the task's scripts"),
    "gibberish": (REJECTED, "log-likelihood per character under the language model below the threshold"),
    "off_topic": (NEEDS_REVIEW, "similarity to the task's description and category below the threshold"),
    "near_duplicate": (NEEDS_REVIEW, "a stored text has estimated Jaccard similarity >= the threshold, is a few "
                                     "edits away (10 % of its letters by default), has the same words reordered, "
                                     "or is cut, joined or wrapped"),
    "copies_task_text": (REJECTED, "a copy or near copy of the task's description, an example or the slot's prompt"),
    "contains_task_text": (NEEDS_REVIEW, "mostly the task's own text: a task text cut short, joined to another or "
                                         "wrapped in a few words"),
    # image
    "image_corrupt": (REJECTED, "the image cannot be decoded"),
    "image_truncated": (REJECTED, "the image data ends early"),
    "image_format": (REJECTED, "the image format is not one the task accepts"),
    "image_too_small": (REJECTED, "width or height below the task's minimum"),
    "image_too_large": (REJECTED, "width, height or pixel count above the task's maximum"),
    "image_blank": (NEEDS_REVIEW, "near-constant image (pixel standard deviation below the threshold)"),
    "near_duplicate_image": (NEEDS_REVIEW, "a stored image's pHash is within the Hamming distance threshold"),
    # audio
    "audio_invalid_header": (REJECTED, "not a well-formed RIFF/WAVE file"),
    "audio_unsupported_encoding": (REJECTED, "a WAV encoding other than PCM 8/16/24/32-bit or float 32/64-bit"),
    "audio_truncated": (REJECTED, "the WAV data chunk is shorter than its header says"),
    "audio_too_short": (REJECTED, "duration below audio_min_seconds"),
    "audio_too_long": (REJECTED, "duration above audio_max_seconds"),
    "audio_sample_rate": (REJECTED, "sample rate not in audio_sample_rates"),
    "audio_silent": (REJECTED, "share of silent 20 ms windows above audio_max_silence"),
    "audio_clipped": (NEEDS_REVIEW, "share of samples at full scale above audio_max_clipping"),
    "audio_corrupt": (REJECTED, "float samples that are NaN or infinite"),
    # json and csv
    "json_invalid": (REJECTED, "the text is not JSON (RFC 8259)"),
    "csv_invalid": (REJECTED, "the text is not a rectangular CSV table with a header row"),
    "table_empty": (REJECTED, "the JSON array or CSV table has no records"),
    "schema_missing_field": (REJECTED, "a required key or column of the schema is missing"),
    "schema_type_mismatch": (REJECTED, "a value does not have the schema's type"),
    "schema_unexpected_field": (REJECTED, "a key or column not in the schema (schema_strict=True)"),
    # user checks
    "custom_check_error": (NEEDS_REVIEW, "a user check raised an exception (the message is in details)"),
}

REASONS = MappingProxyType({code: sev for code, (sev, _) in _TABLE.items()})
"""Reason code -> default severity."""
DESCRIPTIONS = MappingProxyType({code: text for code, (_, text) in _TABLE.items()})
"""Reason code -> what it means."""
