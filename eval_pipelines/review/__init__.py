"""Human review: the queue of hard cases and its exports."""
