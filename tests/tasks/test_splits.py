"""The split by groups of documents that share a passage."""

from __future__ import annotations

from genbench.tasks.splits import draw_groups, shared_passage_groups, split_by_shared_passages

SHARED = "a passage long enough to count"


def test_documents_sharing_a_passage_form_one_group():
    documents = [f"x\n{SHARED}", "y", f"{SHARED}\nz", "short\nw", "w"]
    assert shared_passage_groups(documents, min_chars=10, separator=r"\n") == [
        [0, 2],
        [1],
        [3],
        [4],
    ]  # "w" and "short" are under 10 characters: no group


def test_groups_fill_each_part_in_one_seeded_order_and_big_groups_stay_in_train():
    sizes = [10, 10, 10, 10, 60]
    parts = draw_groups(sizes, (0.2, 0.1), seed=0)
    assert 4 not in {g for part in parts for g in part}  # 60 > a quarter of 100
    assert [sum(sizes[g] for g in part) for part in parts] == [20, 10]
    assert draw_groups(sizes, (0.2, 0.1), seed=0) == parts


def test_split_keeps_groups_whole_and_covers_every_document():
    documents = [SHARED + "0" * 40, "1" * 50, SHARED + "2" * 40, "3" * 50, "4" * 50]
    train, test, holdout = split_by_shared_passages(
        documents, min_chars=len(SHARED), separator="0|2", fractions=(0.2, 0.2), seed=1
    )
    assert sorted(train + test + holdout) == [0, 1, 2, 3, 4]
    for part in (train, test, holdout):
        assert part == sorted(part)
        assert (0 in part) == (2 in part)  # the two documents sharing the passage
    assert test and holdout
