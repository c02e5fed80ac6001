# AWS Lambda container image for Bazooka (the original TypeScript Bazooka ships as one too).
#   docker build -t bazooka .
# Handler: bazooka.lambda_handler.handler. Configure it with the original's environment variables.
# Amazon Linux 2023 runtime: confluent-kafka's wheels need glibc 2.28.
# Run it locally with the runtime interface emulator the base image contains: docs/operators.md.
FROM public.ecr.aws/lambda/python:3.12

# The same installation as the zip's (scripts/build_lambda_zip.py: one requirements filter,
# v4-proto without its gRPC dependencies, the optional bugsnag, bytecode), for this image's
# interpreter and platform.
# setup.py builds the Vulcan send's C encoder when the image has a C compiler; the Lambda base
# image has none, so this image's send encodes in Python (its report says `"encoder": "Python"`)
# unless a compiler is installed first. The zip, built on a machine with one, carries it.
COPY pyproject.toml setup.py README.md /tmp/bazooka/
COPY src /tmp/bazooka/src
COPY scripts/build_lambda_zip.py /tmp/bazooka/scripts/
RUN python3 /tmp/bazooka/scripts/build_lambda_zip.py --install-into "${LAMBDA_TASK_ROOT}" \
 && rm -rf /tmp/bazooka

CMD ["bazooka.lambda_handler.handler"]
