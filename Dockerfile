# AWS Lambda container image for Bazooka (the original TypeScript Bazooka ships as one too).
#   docker build -t bazooka .
# Handler: bazooka.lambda_handler.handler. Configure it with the original's environment variables.
# Amazon Linux 2023 runtime: confluent-kafka's wheels need glibc 2.28.
FROM public.ecr.aws/lambda/python:3.12

COPY pyproject.toml README.md /tmp/bazooka/
COPY src /tmp/bazooka/src
# v4-proto's gRPC dependencies are never imported: install it alone, everything else normally.
RUN pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" --no-deps "v4-proto>=9.0,<10" \
 && pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" --upgrade --no-deps "/tmp/bazooka" \
 && python3 -c "import tomllib; d = tomllib.load(open('/tmp/bazooka/pyproject.toml', 'rb'))['project']; print('\n'.join(r for r in d['dependencies'] + d['optional-dependencies']['bugsnag'] if not r.startswith('v4-proto')))" > /tmp/requirements.txt \
 && pip install --no-cache-dir --target "${LAMBDA_TASK_ROOT}" -r /tmp/requirements.txt \
 && rm -rf /tmp/bazooka /tmp/requirements.txt

CMD ["bazooka.lambda_handler.handler"]
