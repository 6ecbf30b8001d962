from auth_service import flows
from auth_service.db import db
from auth_service.schemas import TokenRead, TokenRequest
from oms_shared import Api, BadSignature, StaleTimestamp, UnknownApp, state

api = Api("auth", __name__)


@api.post("/oms/auth/token", body=TokenRequest, returns=TokenRead, public=True,
          errors=(UnknownApp, StaleTimestamp, BadSignature))
def token(body: TokenRequest) -> TokenRead:
    """Get an access token.

    ``sign`` is the lowercase hex MD5 of ``app_id + timestamp + app_secret``;
    ``timestamp`` (epoch seconds or ms) must be within the allowed window.
    Repeating the same signed request returns the same token.
    """
    return flows.issue_token(session=db.session, oms=state(), request=body)
