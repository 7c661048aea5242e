"""Chart helpers: the per-class score axis fits the data."""

from defectlab.ui.charts import unit_domain


def test_unit_domain_fits_the_data():
    assert unit_domain([0.96, 0.99, 1.0]) == [0.9, 1.0]
    assert unit_domain([0.81, 0.99]) == [0.7, 1.0]
    assert unit_domain([0.3, 0.9]) == [0.0, 1.0]
    assert unit_domain([]) == [0.0, 1.0]
    assert unit_domain([float("nan"), 0.97]) == [0.9, 1.0]


def test_per_class_bars_start_at_the_bottom_of_their_range_and_stay_inside_the_plot():
    """Runs at 0.72-0.99 show a range from 0.7: bars drawn from 0 would run over the class names below."""
    from defectlab.ui.charts import per_class_bars

    spec = per_class_bars({"a": {"f1": 0.72}, "b": {"f1": 0.99}}, {"a": {"f1": 0.8}, "b": {"f1": 0.97}},
                          "run 1", "run 2").to_dict()
    assert spec["mark"]["clip"] is True
    low = spec["encoding"]["y"]["scale"]["domain"][0]
    assert low == unit_domain([0.72, 0.99, 0.8, 0.97])[0] == 0.7 and spec["encoding"]["y2"] == {"datum": low}
