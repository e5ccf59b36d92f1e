from senet_mmdet.utils import listing


def test_listing_names_all_items_up_to_the_limit():
    assert listing(['a', 'b'], 2) == 'a, b'
    assert listing(['a'], 5, '; ') == 'a'
    assert listing([], 5) == ''


def test_listing_counts_the_items_left_out():
    assert listing(['a', 'b', 'c', 'd'], 2) == 'a, b, and 2 more'
    assert listing(['a', 'b', 'c'], 1, '; ') == 'a; and 2 more'
