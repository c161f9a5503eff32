"""The multiclass hour's coding of labels and predicted classes: a value outside `labels.classes` (or a
null) is an error naming the model, the column and the values, never a dropped row."""

from __future__ import annotations

import numpy as np
import pytest

from monitoring_pipeline.config import REPO_ROOT, load_config
from monitoring_pipeline.pipeline.multiclass_performance import class_codes


def test_classes_are_coded_in_config_order_and_unknown_values_are_errors() -> None:
    model = load_config(REPO_ROOT / "monitors.yaml").model("ticket_router")
    values = np.array(["account", "billing", "technical", "account"], dtype=object)
    assert class_codes(model, values, "predicted_queue", "predicted class").tolist() == [2, 0, 1, 2]
    assert class_codes(model, np.array([], dtype=object), "resolved_queue", "label").tolist() == []
    with pytest.raises(ValueError) as info:
        class_codes(model, np.array(["billing", "refunds", None], dtype=object), "resolved_queue", "label")
    message = str(info.value)
    assert "model 'ticket_router': label column 'resolved_queue'" in message
    assert "'null'" in message and "'refunds'" in message and "labels.classes" in message
