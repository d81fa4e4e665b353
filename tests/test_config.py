from dataclasses import dataclass

import pytest

from genzoo.config import build_config, config_to_dict
from genzoo.errors import GenzooError


@dataclass
class Cfg:
    size: tuple[int, int, int] = (1, 28, 28)
    width: int = 32
    rate: float = 0.1
    flag: bool = False
    name: str = "x"


def test_unknown_keys_are_refused_with_valid_list():
    expected = (r"unknown model option\(s\) widht \(did you mean 'width'\?\); "
                "valid options: flag, name, rate, size, width")
    with pytest.raises(GenzooError, match=expected):
        build_config(Cfg, {"widht": 3})


def test_values_are_coerced_from_json_and_cli():
    cfg = build_config(Cfg, {"size": [3, 8, 8], "width": "64", "rate": 1, "flag": "true"})
    assert cfg.size == (3, 8, 8) and cfg.width == 64 and cfg.rate == 1.0 and cfg.flag is True
    assert build_config(Cfg, config_to_dict(cfg)) == cfg


def test_bad_value_type_is_one_line():
    with pytest.raises(GenzooError, match="width expects int"):
        build_config(Cfg, {"width": "wide"})
