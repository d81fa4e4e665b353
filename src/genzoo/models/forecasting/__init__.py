"""Forecasters judged across many series: `global_forecaster` (an N-BEATS-style network trained on the
windows of every series at once; also the shipped zero-shot forecaster) and `forecast_ensemble` (that
network averaged with statsforecast's AutoETS, AutoARIMA and AutoTheta, with intervals calibrated on
rolling origins). `statistical.py` wraps the statistical models for both.

No re-exports: import a model from its own module, `genzoo.models.forecasting.<model>`.
"""
