"""Login lockout (django-axes) for every login form: the sign-in page and the admin's."""

from axes.backends import AxesStandaloneBackend


class LoginLockoutBackend(AxesStandaloneBackend):
    """django-axes' backend, for logins that come with a request.

    Every login form passes the request to ``authenticate``; code that checks a password
    without one (the test client's ``login``, management commands) is not a login from outside,
    and is left to the next backend instead of failing.
    """

    def authenticate(self, request=None, username=None, password=None, **kwargs):
        if request is None:
            return None
        return super().authenticate(request, username=username, password=password, **kwargs)
