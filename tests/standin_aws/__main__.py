"""`python -m tests.standin_aws <engine address>`: what the installed launcher runs."""

import sys

from tests.standin_aws.server import serve

if __name__ == "__main__":
    serve(sys.argv[1:])
