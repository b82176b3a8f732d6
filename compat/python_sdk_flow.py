"""Calls this server with ONLYOFFICE's own generated Python SDK (docspace-api-sdk), unchanged.

Usage: python python_sdk_flow.py BASE_URL EMAIL PASSWORD EXPECTED_PHONE_NOISE NEW_USER_EMAIL OUTBOX_FILE

NEW_USER_EMAIL has the same password and no phone: it walks the whole first login (set a phone,
code from the SMS, session, logout).
"""

import json
import re
import sys
import time

from docspace_api_sdk import ApiClient, Configuration
from docspace_api_sdk.api.authentication.authentication_api import AuthenticationApi
from docspace_api_sdk.exceptions import ApiException
from docspace_api_sdk.models.auth_requests_dto import AuthRequestsDto
from docspace_api_sdk.models.auth_with_code_requests_dto import AuthWithCodeRequestsDto
from docspace_api_sdk.models.mobile_requests_dto import MobileRequestsDto


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


def last_code(outbox, count):
    """The code of message number `count` in the development outbox, waiting briefly for it."""
    for _ in range(100):
        with open(outbox, encoding="utf-8") as f:
            lines = f.read().splitlines()
        if len(lines) >= count:
            return re.search(r"\b(\d{6})\b", json.loads(lines[count - 1])["text"]).group(1)
        time.sleep(0.05)
    raise AssertionError("no SMS arrived")


def first_login(base_url, email, password, outbox):
    with ApiClient(Configuration(host=base_url)) as client:
        api = AuthenticationApi(client)
        step = api.authenticate_me(AuthRequestsDto(user_name=email, password=password)).response
        assert step.sms is True and step.token is None, step
        assert "/confirm/PhoneActivation?" in step.confirm_url, step
        query = step.confirm_url.split("?", 1)[1]

        sent = api.save_mobile_phone(MobileRequestsDto(mobile_phone="+1 201 555 0123"), _headers={"confirm": query})
        assert sent.response.phone_noise == "+1201***0123", sent
        code = last_code(outbox, 2)

        session = api.authenticate_me_from_body_with_code(
            code, AuthWithCodeRequestsDto(user_name=email, password=password, code=code)).response
        assert session.token and session.sms is True, session
        expect_error(lambda: api.authenticate_me_from_body_with_code(
            code, AuthWithCodeRequestsDto(user_name=email, password=password, code=code)), 401, "AuthenticationFailed")

    with ApiClient(Configuration(host=base_url), header_name="Authorization", header_value=session.token) as client:
        api = AuthenticationApi(client)
        assert api.get_is_authentificated().response is True
        api.logout()
        assert api.get_is_authentificated().response is False


def main():
    base_url, email, password, phone_noise, new_user, outbox = sys.argv[1:7]
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
    first_login(base_url, new_user, password, outbox)
    print("docspace-api-sdk (Python): authenticateMe, saveMobilePhone, authenticateMeFromBodyWithCode, "
          "getIsAuthentificated, logout OK")


if __name__ == "__main__":
    main()
