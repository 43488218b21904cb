"""Findings and distances from TFDV's anomalies proto, built by hand (no TFDV run)."""

from __future__ import annotations

from tensorflow_metadata.proto.v0 import anomalies_pb2

from components.validate.results import Distance, Finding, distances_from_anomalies, findings_from_anomalies

TYPES = anomalies_pb2.AnomalyInfo.Type
MEASURES = anomalies_pb2.DriftSkewInfo.Measurement.Type


def anomalies() -> anomalies_pb2.Anomalies:
    found = anomalies_pb2.Anomalies()
    channel = found.anomaly_info["channel"]
    channel.reason.add(type=TYPES.Value("ENUM_TYPE_UNEXPECTED_STRING_VALUES"), description="'fax' is not in the domain")
    channel.reason.add(type=TYPES.Value("COMPARATOR_L_INFTY_HIGH"), short_description="High L-infinity distance")
    found.anomaly_info["amount"].reason.add(
        type=TYPES.Value("COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH"), description="divergence 0.3 > 0.1"
    )
    found.dataset_anomaly_info.reason.add(type=TYPES.Value("DATASET_LOW_NUM_EXAMPLES"), description="too few rows")
    amount = found.drift_skew_info.add()
    amount.path.step.append("amount")
    amount.drift_measurements.add(type=MEASURES.Value("JENSEN_SHANNON_DIVERGENCE"), value=0.3, threshold=0.1)
    amount.skew_measurements.add(type=MEASURES.Value("JENSEN_SHANNON_DIVERGENCE"), value=0.02, threshold=0.1)
    channel_info = found.drift_skew_info.add()
    channel_info.path.step.append("channel")
    channel_info.drift_measurements.add(type=MEASURES.Value("L_INFTY"), value=0.5, threshold=0.2)
    return found


def severity(kind: str) -> str:
    return "warning" if kind.startswith("DATASET_") else "error"


def test_schema_findings_leave_comparators_out_and_keep_split_wide_ones_graded_by_kind():
    assert findings_from_anomalies(anomalies(), "schema", "train", severity) == [
        Finding(
            "schema", "train", "channel", "ENUM_TYPE_UNEXPECTED_STRING_VALUES", "error", "'fax' is not in the domain"
        ),
        Finding("schema", "train", "(dataset)", "DATASET_LOW_NUM_EXAMPLES", "warning", "too few rows"),
    ]


def test_comparator_findings_are_by_feature_name_with_the_short_description_as_fallback():
    found = findings_from_anomalies(anomalies(), "drift", "train vs ds-1", severity, comparators_only=True)
    assert [(f.feature, f.kind, f.description) for f in found] == [
        ("amount", "COMPARATOR_JENSEN_SHANNON_DIVERGENCE_HIGH", "divergence 0.3 > 0.1"),
        ("channel", "COMPARATOR_L_INFTY_HIGH", "High L-infinity distance"),
    ]
    assert {f.check for f in found} == {"drift"} and {f.split for f in found} == {"train vs ds-1"}


def test_distances_name_their_measure_and_come_largest_first():
    drift = distances_from_anomalies(anomalies(), "drift")
    assert drift == [
        Distance("drift", "channel", "l_infinity", 0.5, 0.2),
        Distance("drift", "amount", "jensen_shannon", 0.3, 0.1),
    ]
    assert all(d.alerts for d in drift)
    skew = distances_from_anomalies(anomalies(), "skew")
    assert skew == [Distance("skew", "amount", "jensen_shannon", 0.02, 0.1)] and not skew[0].alerts
