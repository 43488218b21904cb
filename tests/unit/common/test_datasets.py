"""Dataset references without S3: which choice the latest pointer keeps."""

from __future__ import annotations

from components.common.datasets import DatasetRef, latest_after

EARLY, LATE = "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:00:00.000001+00:00"
A, B = DatasetRef("loans", "ds-000000000000000a"), DatasetRef("loans", "ds-000000000000000b")


def pointer(ref: DatasetRef, chosen_at: str) -> dict:
    return {"use_case": ref.use_case, "version": ref.version, "chosen_at": chosen_at}


def test_the_first_choice_creates_the_pointer():
    assert latest_after(None, A, EARLY) == pointer(A, EARLY)


def test_a_newer_choice_moves_latest_and_an_older_one_arriving_later_does_not():
    assert latest_after(pointer(A, EARLY), B, LATE) == pointer(B, LATE)
    assert latest_after(pointer(B, LATE), A, EARLY) is None


def test_choosing_the_same_version_again_records_the_newer_moment_only():
    assert latest_after(pointer(A, EARLY), A, LATE) == pointer(A, LATE)
    assert latest_after(pointer(A, LATE), A, EARLY) is None


def test_equal_moments_are_settled_by_version_id_so_every_writer_agrees():
    assert latest_after(pointer(A, EARLY), B, EARLY) == pointer(B, EARLY)
    assert latest_after(pointer(B, EARLY), A, EARLY) is None


def test_a_pointer_written_before_moments_were_recorded_gives_way():
    assert latest_after({"use_case": "loans", "version": B.version}, A, EARLY) == pointer(A, EARLY)


def test_moments_in_other_offsets_compare_by_instant():
    assert latest_after(pointer(A, "2026-01-01T01:00:00+01:00"), B, "2026-01-01T00:00:01+00:00") == pointer(
        B, "2026-01-01T00:00:01+00:00"
    )
