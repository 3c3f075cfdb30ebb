"""Chain-specific proof of control and balance reading.

Each chain module delegates curve and signature work to a well-kept library
made for that chain; nothing here does elliptic-curve arithmetic itself.
"""

from __future__ import annotations
