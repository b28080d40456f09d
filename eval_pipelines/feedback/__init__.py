"""User feedback: explicit feedback linked to the calls it judges, and implicit signals from sessions."""

from eval_pipelines.feedback.settings import FeedbackSettings, load_feedback_settings
from eval_pipelines.feedback.signals import FeedbackBuild, build_user_feedback

__all__ = ["FeedbackBuild", "FeedbackSettings", "build_user_feedback", "load_feedback_settings"]
