"""The conformance suite (tests/provider_conformance.py), one subclass per provider package: those with resources
run it against their local server (tests/providers/), webhook-only ones run the facts and vector checks."""

from __future__ import annotations

import base64
import dataclasses
import time
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from provider_conformance import ProviderConformance, SignedVector, body_file_vectors, conformance_cases, load_vectors
from providers.fluentcrm_server import FluentCrmSite
from providers.lago_server import LagoAccount
from providers.plane_server import PlaneWorkspace
from providers.shopify_server import ShopifyShop
from providers.slack_server import SlackWorkspace
from providers.stripe_server import StripeAccount
from providers.telegram_server import TelegramBots
from providers.trello_server import TrelloAccount
from providers.whatsapp_server import VERSION, WhatsAppCloud
from providers.woocommerce_server import WooCommerceStore
from providers.wordpress_server import WordPressSite
from providers.zoho_server import ZohoCrm
from sync_support import access_tokens
from webhook_support import FORM, request

from connectors.base import ApiCall, WebhookRequest
from connectors.facts import Action, Resource
from connectors.oauth import ACCESS_TOKEN
from connectors.providers.email import smtp as email_smtp
from connectors.providers.slack import api as slack_api
from connectors.providers.stripe import api as stripe_api
from connectors.providers.telegram import api as telegram_api
from connectors.providers.trello import api as trello_api
from connectors.providers.whatsapp import api as whatsapp_api
from connectors.registry import all_providers

NOW = time.time()
WC_HEADER = "X-WC-Webhook-Signature"
HUB_HEADER = "X-Hub-Signature-256"
TELEGRAM_HEADER = "X-Telegram-Bot-Api-Secret-Token"


class TestWooCommerce(ProviderConformance):
    provider = "woocommerce"
    server_type = WooCommerceStore

    def call(self, server: WooCommerceStore) -> ApiCall:
        keys = {"consumer_key": server.consumer_key, "consumer_secret": server.consumer_secret}
        return ApiCall(self.facts, {"store_url": server.url, "currency": "EUR"}, keys, allow_private=True)

    def action_input(self, server: WooCommerceStore, action: Action) -> dict[str, Any]:
        assert action.name == "update_stock"
        server.seed(products=1)
        return {"product_id": str(server.ids("products")[-1]), "stock_quantity": 3}

    def action_applied(self, server: WooCommerceStore, action: Action, input: dict, result: dict) -> bool:
        return server.objects["products"][int(input["product_id"])]["stock_quantity"] == 3

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider, lambda v: {WC_HEADER: v[f"expected_{WC_HEADER}"]}, lists=("derived_vectors",)
        )


class TestStripe(ProviderConformance):
    provider = "stripe"
    server_type = StripeAccount
    api_base = (stripe_api, "/v1/")

    def call(self, server: StripeAccount) -> ApiCall:
        return ApiCall(self.facts, {}, {"secret_key": server.secret_key, "webhook_secret": "whsec_x"}, True)

    def action_input(self, server: StripeAccount, action: Action) -> dict[str, Any]:
        assert action.name == "refund_payment"
        server.seed(payment_intents=1)
        return {"payment_intent": server.ids("payment_intents")[-1], "amount": 500, "reason": "requested_by_customer"}

    def action_applied(self, server: StripeAccount, action: Action, input: dict, result: dict) -> bool:
        refunded = server.objects["payment_intents"][input["payment_intent"]]["amount_refunded"]
        return refunded == 500 and server.refunds[result["id"]]["payment_intent"] == input["payment_intent"]

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider,
            lambda v: {"Stripe-Signature": v["expected_Stripe-Signature"]},
            lists=("derived_vectors",),
            now_s=lambda v: int(v["timestamp"]) + 60,  # inside the 5 minutes Stripe allows
        )


class TestShopify(ProviderConformance):
    provider = "shopify"
    server_type = ShopifyShop

    def call(self, server: ShopifyShop) -> ApiCall:
        secrets = {"access_token": server.access_token, "webhook_secret": "shpss_x"}
        return ApiCall(self.facts, {"shop": server.url, "currency": "USD"}, secrets, allow_private=True)

    def action_input(self, server: ShopifyShop, action: Action) -> dict[str, Any]:
        assert action.name == "update_order_tags"
        server.seed(orders=1)
        return {"order_id": str(server.ids("orders")[-1]), "tags": ["vip", "synced"]}

    def action_applied(self, server: ShopifyShop, action: Action, input: dict, result: dict) -> bool:
        return server.objects["orders"][int(input["order_id"])]["tags"] == "vip, synced"

    def signed_vectors(self) -> list[SignedVector]:
        return [
            SignedVector(v["source"], request(v["body"].encode(), v["headers"]), [v["secret"]], NOW)
            for v in load_vectors(self.provider)["vectors"]
        ]


class TestSlack(ProviderConformance):
    provider = "slack"
    server_type = SlackWorkspace
    api_base = (slack_api, "/api/")

    def call(self, server: SlackWorkspace) -> ApiCall:
        return ApiCall(self.facts, {}, {ACCESS_TOKEN: server.token, "webhook_secret": "x"}, allow_private=True)

    def server_ids(self, server: SlackWorkspace, resource: Resource) -> list[str]:
        return list(server.channels) if resource.name == "conversations" else server.message_ids()

    def action_input(self, server: SlackWorkspace, action: Action) -> dict[str, Any]:
        assert action.name == "post_message"
        return {"channel": server.channel("support"), "text": "Order #1001 shipped"}

    def action_applied(self, server: SlackWorkspace, action: Action, input: dict, result: dict) -> bool:
        said = server.history[input["channel"]]
        return [m["text"] for m in said] == [input["text"]] and result["id"] == f"{input['channel']}:{said[0]['ts']}"

    def signed_vectors(self) -> list[SignedVector]:
        found = []
        for v in load_vectors(self.provider)["vectors"]:
            headers = {
                "X-Slack-Request-Timestamp": v["X-Slack-Request-Timestamp"],
                "X-Slack-Signature": v["expected_X-Slack-Signature"],
            }
            now = int(v["X-Slack-Request-Timestamp"]) + 60
            found.append(
                SignedVector(v["source"], request(v["body"].encode(), headers, FORM), [v["signing_secret"]], now)
            )
            if "negative" in v:
                body = v["negative"]["body"].encode()
                found.append(
                    SignedVector("negative", request(body, headers, FORM), [v["signing_secret"]], now, valid=False)
                )
        return found


class TestStandardWebhooks(ProviderConformance):
    provider = "standard-webhooks"

    def signed_vectors(self) -> list[SignedVector]:
        found = []
        for v in load_vectors(self.provider)["vectors"]:
            signature = v.get("expected_webhook_signature") or v["webhook_signature"]
            headers = {"webhook-id": v["webhook_id"], "webhook-timestamp": v["webhook_timestamp"]}
            delivery = request(v["body"].encode(), {**headers, "webhook-signature": signature})
            secret = v["secret"]
            if signature.startswith("v1a,"):  # the sender's ed25519 private key: a receiver holds the public key
                private = Ed25519PrivateKey.from_private_bytes(base64.b64decode(secret.removeprefix("whsk_")))
                public = private.public_key().public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
                secret = "whpk_" + base64.b64encode(public).decode()
            now = int(v["webhook_timestamp"]) + 60
            valid = str(v.get("expected_valid", True)).lower() == "true"
            found.append(SignedVector(v["name"], delivery, [secret], now, valid))
        return found


class TestZapier(ProviderConformance):
    provider = "zapier"  # BizOSaaS is the source: the facts check covers its rest_hooks routes; nothing to sign


class TestWordPress(ProviderConformance):
    provider = "wordpress"
    server_type = WordPressSite

    def call(self, server: WordPressSite) -> ApiCall:
        keys = {"username": server.username, "application_password": server.application_password}
        return ApiCall(self.facts, {"site_url": server.url}, keys, allow_private=True)

    def server_ids(self, server: WordPressSite, resource: Resource) -> list[str]:
        return [str(i) for i in server.ids(resource.name)]  # every status the sync lists (nothing is trashed)

    def action_input(self, server: WordPressSite, action: Action) -> dict[str, Any]:
        assert action.name == "create_draft_post"
        return {"title": "Draft from BizOSaaS", "content": "Hello"}

    def action_applied(self, server: WordPressSite, action: Action, input: dict, result: dict) -> bool:
        made = server.objects["posts"][result["id"]]
        return made["status"] == "draft" and made["title"]["raw"] == input["title"]


class TestFluentCrm(ProviderConformance):
    provider = "fluentcrm"
    server_type = FluentCrmSite

    def call(self, server: FluentCrmSite) -> ApiCall:
        keys = {"username": server.username, "application_password": server.application_password}
        return ApiCall(self.facts, {"site_url": server.url}, keys, allow_private=True)

    def action_input(self, server: FluentCrmSite, action: Action) -> dict[str, Any]:
        assert action.name == "add_tag"
        server.seed(subscribers=1)
        return {"contact_id": str(server.ids()[-1]), "tag": "vip"}

    def action_applied(self, server: FluentCrmSite, action: Action, input: dict, result: dict) -> bool:
        held = server.subscribers[int(input["contact_id"])]["tags"]
        return "vip" in {t["slug"] for t in held} and "VIP" in {t["title"] for t in result["tags"]}


class TestLago(ProviderConformance):
    provider = "lago"
    server_type = LagoAccount

    def call(self, server: LagoAccount) -> ApiCall:
        return ApiCall(self.facts, {"api_url": server.url}, {"api_key": server.api_key, "webhook_secret": "x"}, True)

    def action_input(self, server: LagoAccount, action: Action) -> dict[str, Any]:
        assert action.name == "record_usage"
        return {
            "transaction_id": "bizosaas-usage:tenant-1:2026-01-01:commerce.order.upserted.v1:shopify",
            "external_subscription_id": "ext-subscriptions-1",
            "code": "platform_events",
            "properties": {"events": 42},
        }

    def action_applied(self, server: LagoAccount, action: Action, input: dict, result: dict) -> bool:
        recorded = server.events[input["transaction_id"]]
        return recorded["properties"] == {"events": 42} and result["id"] == recorded["lago_id"]

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider,
            lambda v: {
                "X-Lago-Signature": v["expected_X-Lago-Signature"],
                "X-Lago-Signature-Algorithm": v["algorithm"],
            },
        )


class TestZohoCrm(ProviderConformance):
    provider = "zoho-crm"
    server_type = ZohoCrm

    def call(self, server: ZohoCrm) -> ApiCall:
        return ApiCall(self.facts, {"api_domain": server.url}, access_tokens(server), allow_private=True)

    def action_input(self, server: ZohoCrm, action: Action) -> dict[str, Any]:
        assert action.name == "update_lead_status"
        return {"lead_id": server.seed(Leads=1)[0], "status": "Qualified"}

    def action_applied(self, server: ZohoCrm, action: Action, input: dict, result: dict) -> bool:
        return server.records["Leads"][input["lead_id"]]["Lead_Status"] == "Qualified" == input["status"]

    def tampered(self, delivery: WebhookRequest) -> WebhookRequest:
        """No signature covers the bytes (trailing whitespace still parses): the proof is the body's token."""
        body = delivery.body.replace(b'"token":"TOKEN_FOR', b'"token":"TOKEN_F0R')
        assert body != delivery.body
        return request(body, dict(delivery.headers), delivery.content_type)

    def signed_vectors(self) -> list[SignedVector]:
        """A notification carries its channel's token in the body (no signature header): valid with that token."""
        return body_file_vectors(self.provider, lambda v: {}, lists=("vectors",))


class TestPlane(ProviderConformance):
    provider = "plane"
    server_type = PlaneWorkspace

    def call(self, server: PlaneWorkspace) -> ApiCall:
        config = {"api_url": server.url, "workspace_slug": server.slug}
        return ApiCall(self.facts, config, {"api_key": server.api_key, "webhook_secret": "x"}, allow_private=True)

    def seed(self, server: PlaneWorkspace, resource: Resource, count: int) -> None:
        if resource.name != "projects":  # spread over two projects, with an empty one between them
            server.seed(projects=1, **{resource.name: count // 2})
            server.seed(projects=1)
        server.seed(**{resource.name: count - count // 2 if resource.name != "projects" else count})

    def action_input(self, server: PlaneWorkspace, action: Action) -> dict[str, Any]:
        (project,) = server.seed(projects=1)
        if action.name == "create_issue":
            return {"project_id": project, "name": "Filed by BizOSaaS", "priority": "high"}
        assert action.name == "update_issue"
        (issue,) = server.seed(issues=1)
        return {"project_id": project, "issue_id": issue, "name": "Renamed by BizOSaaS", "priority": "urgent"}

    def action_applied(self, server: PlaneWorkspace, action: Action, input: dict, result: dict) -> bool:
        held = server.issues[result["id"]]
        return (held["project"], held["name"], held["priority"]) == (
            input["project_id"],
            input["name"],
            input["priority"],
        )

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider, lambda v: {"X-Plane-Signature": v["expected_X-Plane-Signature"], "X-Plane-Event": v["event"]}
        )


class TestTrello(ProviderConformance):
    provider = "trello"
    server_type = TrelloAccount
    api_base = (trello_api, "/1/")

    def call(self, server: TrelloAccount) -> ApiCall:
        secrets = {"api_key": server.api_key, "api_token": server.api_token, "api_secret": server.api_secret}
        return ApiCall(self.facts, {}, secrets, allow_private=True)

    def seed(self, server: TrelloAccount, resource: Resource, count: int) -> None:
        if resource.name == "cards":  # over two boards, with an empty one between them
            server.seed(boards=1, cards=count // 2)
            server.seed(boards=2)
            server.seed(cards=count - count // 2)
        else:
            server.seed(**{resource.name: count})

    def action_input(self, server: TrelloAccount, action: Action) -> dict[str, Any]:
        assert action.name == "create_card"
        (list_id,) = server.seed(lists=1)
        return {"list_id": list_id, "name": "Filed by BizOSaaS", "desc": "from an action", "pos": "top"}

    def action_applied(self, server: TrelloAccount, action: Action, input: dict, result: dict) -> bool:
        held = server.cards[result["id"]]
        return (held["idList"], held["name"], held["desc"]) == (input["list_id"], input["name"], input["desc"])

    def tampered(self, delivery: WebhookRequest) -> WebhookRequest:
        return dataclasses.replace(delivery, body=delivery.body + b" ")  # the same callback URL

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider, lambda v: {"X-Trello-Webhook": v["expected_X-Trello-Webhook"]}, url="callback_url"
        )  # the signature covers the URL too


class TestWhatsApp(ProviderConformance):
    provider = "whatsapp"
    server_type = WhatsAppCloud
    api_base = (whatsapp_api, f"/{VERSION}/")

    def call(self, server: WhatsAppCloud) -> ApiCall:
        config = {"waba_id": server.waba_id, "phone_number_id": server.phone_number_id}
        return ApiCall(self.facts, config, {"access_token": server.access_token}, allow_private=True)

    def seed(self, server: WhatsAppCloud, resource: Resource, count: int) -> None:
        server.seed(templates=count)

    def server_ids(self, server: WhatsAppCloud, resource: Resource) -> list[str]:
        return server.ids()

    def action_input(self, server: WhatsAppCloud, action: Action) -> dict[str, Any]:
        if action.name == "send_text":
            return {"to": "16315551181", "text": "Your order shipped"}
        assert action.name == "send_template"
        (made,) = server.seed(templates=1)
        name = server.templates[made]["name"]
        return {"to": "16315551181", "template": name, "language": "en_US", "body_parameters": ["Ana", "#1001"]}

    def action_applied(self, server: WhatsAppCloud, action: Action, input: dict, result: dict) -> bool:
        last = server.sent[-1]
        if action.name == "send_text":
            return last["text"]["body"] == input["text"] and result["id"].startswith("wamid.")
        parameters = [p["text"] for p in last["template"]["components"][0]["parameters"]]
        return last["template"]["name"] == input["template"] and parameters == input["body_parameters"]

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(self.provider, lambda v: {HUB_HEADER: v[f"expected_{HUB_HEADER}"]}, "app_secret")


class TestTelegram(ProviderConformance):
    provider = "telegram"
    server_type = TelegramBots
    api_base = (telegram_api, "")

    def call(self, server: TelegramBots) -> ApiCall:
        return ApiCall(self.facts, {}, {"bot_token": server.token}, allow_private=True)

    def action_input(self, server: TelegramBots, action: Action) -> dict[str, Any]:
        assert action.name == "send_message"
        return {"chat_id": "111222333", "text": "Your order shipped", "parse_mode": "HTML"}

    def action_applied(self, server: TelegramBots, action: Action, input: dict, result: dict) -> bool:
        return server.sent[-1]["text"] == input["text"] and result["id"] == f"111222333:{len(server.sent) + 100}"

    def tampered(self, delivery: WebhookRequest) -> WebhookRequest:
        """The proof is the header's token, not a signature of the bytes: another token is refused."""
        headers = dict(delivery.headers)
        headers[TELEGRAM_HEADER] = headers[TELEGRAM_HEADER][:-1] + "x"
        return request(delivery.body, headers, delivery.content_type)

    def signed_vectors(self) -> list[SignedVector]:
        return body_file_vectors(
            self.provider, lambda v: {TELEGRAM_HEADER: v[TELEGRAM_HEADER]}, "secret_token", lists=("vectors",)
        )


class TestEmail(ProviderConformance):
    """Not HTTP: its servers are a real IMAP server (Dovecot, skipped where it is missing) holding the mailbox the
    `messages` resource pages through, and a real SMTP server (aiosmtpd) `send_email` delivers to."""

    provider = "email"

    @pytest.fixture
    async def server(self, dovecot, smtp_server, mail_cert, monkeypatch):
        monkeypatch.setattr(email_smtp, "CA_FILE", mail_cert.cert)
        dovecot.clear()
        yield MailServers(dovecot, smtp_server)

    def call(self, server: MailServers) -> ApiCall:
        imap, smtp = server.imap, server.smtp
        config = {"from_address": "support@acme.test", "imap_host": imap.host, "imap_port": imap.port}
        config |= {"smtp_host": smtp.host, "smtp_port": smtp.port, "smtp_security": "starttls"}
        # one mailbox account logs in to both, as at a mail provider
        return ApiCall(self.facts, config, {"username": imap.user, "password": imap.password}, allow_private=True)

    def seed(self, server: MailServers, resource: Resource, count: int) -> None:
        messages = [
            f"From: c{n}@example.test\r\nSubject: Seeded {n}\r\n\r\nBody {n}\r\n".encode() for n in range(count)
        ]
        server.imap.append(*messages)

    def server_ids(self, server: MailServers, resource: Resource) -> list[str]:
        client = server.imap.client()
        try:
            client.select("INBOX", readonly=True)
            validity = int(client.response("UIDVALIDITY")[1][0])
            return [f"{validity}:{uid.decode()}" for uid in client.uid("SEARCH", "ALL")[1][0].split()]
        finally:
            client.logout()

    def action_input(self, server: MailServers, action: Action) -> dict[str, Any]:
        assert action.name == "send_email"
        return {"to": ["ana@example.test"], "subject": "Hello {{name}}", "text": "Hi", "variables": {"name": "Ana"}}

    def action_applied(self, server: MailServers, action: Action, input: dict, result: dict) -> bool:
        (envelope,) = server.smtp.handler.received
        return envelope.rcpt_tos == ["ana@example.test"] and b"Subject: Hello Ana" in envelope.content


@dataclasses.dataclass
class MailServers:
    imap: Any  # tests/mail_servers.py Dovecot
    smtp: Any  # tests/mail_servers.py SmtpServer


def test_every_provider_package_has_a_conformance_case():
    import test_provider_conformance_ads  # noqa: F401  its cases (pytest may not have collected that file)

    cases = {cls.provider for cls in conformance_cases()}
    assert cases == set(all_providers()), "add a ProviderConformance subclass for each new provider package"
