"""Chart helpers: the per-class score axis fits the data."""

from defectlab.ui.charts import unit_domain


def test_unit_domain_fits_the_data():
    assert unit_domain([0.96, 0.99, 1.0]) == [0.9, 1.0]
    assert unit_domain([0.81, 0.99]) == [0.7, 1.0]
    assert unit_domain([0.3, 0.9]) == [0.0, 1.0]
    assert unit_domain([]) == [0.0, 1.0]
    assert unit_domain([float("nan"), 0.97]) == [0.9, 1.0]
