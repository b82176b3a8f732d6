"""Calls this server with ONLYOFFICE's own generated Python SDK (docspace-api-sdk), unchanged.

Usage: python python_sdk_sendsms.py BASE_URL EMAIL PASSWORD EXPECTED_PHONE_NOISE
"""

import json
import sys

from docspace_api_sdk import ApiClient, Configuration
from docspace_api_sdk.api.authentication.authentication_api import AuthenticationApi
from docspace_api_sdk.exceptions import ApiException
from docspace_api_sdk.models.auth_requests_dto import AuthRequestsDto


def expect_error(call, status, kind):
    try:
        call()
    except ApiException as error:
        assert error.status == status, (error.status, error.body)
        body = json.loads(error.body)
        assert body["error"]["type"] == kind, body
        assert body["statusCode"] == status, body
        return
    raise AssertionError(f"expected HTTP {status}")


def main():
    base_url, email, password, phone_noise = sys.argv[1:5]
    with ApiClient(Configuration(host=base_url)) as client:
        api = AuthenticationApi(client)

        sent = api.send_sms_code(AuthRequestsDto(user_name=email, password=password, culture="en-US"))
        assert sent.status == 0 and sent.status_code == 200, sent
        assert sent.count == 1, sent
        assert sent.response.sms is True, sent
        assert sent.response.tfa is False, sent
        assert sent.response.phone_noise == phone_noise, sent
        assert sent.response.expires is not None, sent
        assert sent.response.token is None, sent

        expect_error(lambda: api.send_sms_code(AuthRequestsDto(user_name=email, password="wrong")), 401,
                     "AuthenticationFailed")
        # The SDK sends no body when given no DTO.
        expect_error(lambda: api.send_sms_code(), 401, "AuthenticationFailed")
    print("docspace-api-sdk (Python): sendSmsCode parsed OK")


if __name__ == "__main__":
    main()
