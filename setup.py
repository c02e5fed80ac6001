"""The one part of the build pyproject.toml cannot declare yet (its table is experimental): the
Vulcan send's encoder in C. Optional: where it cannot be built (no C compiler), the install
goes on and the send uses the same encoder in Python (``bazooka.vulcan.wire``)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "bazooka.vulcan._wire",
            sources=["src/bazooka/vulcan/_wire.c"],
            optional=True,
        )
    ]
)
