import Foundation
import TestSupport
import Testing

/// The webhook subscription API through nginx: Admin only, strict validation, the secret shown once.
@Suite(requiresStack)
struct WebhookSubscriptionTests {
    let stack: Stack
    let admin: APIUser
    let participant: APIUser

    init() throws {
        stack = try Stack(name: "webhook-api")
        admin = try APIUser(stack, roles: ["Admin"])
        participant = try APIUser(stack, roles: ["Participant"])
    }

    @Test func onlyAnAdminMayManageWebhooks() throws {
        #expect(isProblem(try participant.call("GET", "/api/v1/webhooks"), status: 403))
        #expect(isProblem(try participant.call("POST", "/api/v1/webhooks", json: ["url": "https://example.com/h"]), status: 403))
        #expect(try admin.call("GET", "/api/v1/webhooks").status == 200)
    }

    @Test func createShowsTheSecretOnceAndTheSubscriptionCanBeReadChangedAndDeleted() throws {
        let created = try admin.call(
            "POST", "/api/v1/webhooks",
            json: ["url": "https://example.com/hook", "eventTypes": ["StatusChanged"], "description": "bot"])
        #expect(created.status == 201, "\(created)")
        let id = try #require(created.json["id"] as? String)
        #expect((created.json["secret"] as? String)?.hasPrefix("whsec_") == true)
        #expect(created.header("location") == "/api/v1/webhooks/\(id)")

        let read = try admin.call("GET", "/api/v1/webhooks/\(id)")
        #expect(read.status == 200)
        #expect(read.json["secret"] == nil)
        #expect(read.json["eventTypes"] as? [String] == ["StatusChanged"])
        #expect(try admin.call("GET", "/api/v1/webhooks").json["items"].map { ($0 as? [Any])?.count } == 1)

        let changed = try admin.call("PATCH", "/api/v1/webhooks/\(id)", json: ["eventTypes": "all", "active": false])
        #expect(changed.status == 200, "\(changed)")
        #expect(changed.json["eventTypes"] as? String == "all")
        #expect(changed.json["active"] as? Bool == false)
        #expect(changed.json["url"] as? String == "https://example.com/hook")

        let rotated = try admin.call("POST", "/api/v1/webhooks/\(id)/secret")
        #expect(rotated.status == 200)
        #expect(rotated.json["secret"] as? String != created.json["secret"] as? String)
        #expect(rotated.json["previousSecretExpiresAt"] is String)

        #expect(try admin.call("GET", "/api/v1/webhooks/\(id)/deliveries").json["items"].map { ($0 as? [Any])?.count } == 0)
        #expect(try admin.call("DELETE", "/api/v1/webhooks/\(id)").status == 204)
        #expect(isProblem(try admin.call("GET", "/api/v1/webhooks/\(id)"), status: 404))
        #expect(isProblem(try admin.call("DELETE", "/api/v1/webhooks/\(id)"), status: 404))
    }

    @Test func invalidSubscriptionsAreRefusedWithEveryReason() throws {
        let refused = try admin.call(
            "POST", "/api/v1/webhooks",
            json: ["url": "ftp://example.com/x", "eventTypes": ["Nope"], "workflowIds": ["not-a-uuid"], "evenTypes": "all"])
        #expect(isProblem(refused, status: 400))
        let errors = try #require(refused.json["errors"] as? [String: [String]])
        #expect(Set(errors.keys) == ["url", "eventTypes", "workflowIds", "evenTypes"])
        #expect(isProblem(try admin.call("POST", "/api/v1/webhooks", json: ["description": "no url"]), status: 400))
        #expect(isProblem(try admin.call("POST", "/api/v1/webhooks", json: ["url": "https://example.com", "active": true]), status: 400))
        #expect(isProblem(try admin.call("POST", "/api/v1/webhooks", json: ["url": "https://example.com", "eventTypes": []]), status: 400))
        #expect(isProblem(try admin.call("GET", "/api/v1/webhooks/not-a-uuid"), status: 404))
    }

    @Test func redeliveringAnUnknownDeliveryIsNotFound() throws {
        let created = try admin.call("POST", "/api/v1/webhooks", json: ["url": "https://example.com/h"])
        let id = try #require(created.json["id"] as? String)
        let answer = try admin.call("POST", "/api/v1/webhooks/\(id)/deliveries/\(UUID().uuidString.lowercased())/redeliver")
        #expect(isProblem(answer, status: 404))
    }
}
