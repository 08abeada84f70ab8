import HTTPHead
import Foundation
import HTTPTypes
import Logging
import TextCoding
import Workflows

/// The webhook subscription operations (Admin only; the route table says so). Bodies are checked
/// strictly: an unknown member is refused, since a misspelt filter would otherwise subscribe to everything.
extension WorkflowAPI {
    static let webhookMembers: Set<String> = ["url", "eventTypes", "workflowIds", "description", "active"]

    private func webhookService() throws -> WebhookService {
        guard let webhooks else { throw Problem.notFound }
        return webhooks
    }

    private var webhookId: (RouteContext) -> UUID { { $0.uuid("webhookId") } }

    static let webhookNotFound = Problem(.notFound, "not-found", title: "Not Found", detail: "There is no webhook subscription with this id.")

    func createWebhook(_ c: RouteContext) throws -> Response {
        let service = try webhookService()
        let body = try jsonBody(c.request, required: true)
        let change = try Self.webhookChange(body, creating: true)
        let (subscription, secret) = try service.create(
            url: change.url!, eventTypes: change.eventTypes ?? nil, workflowIds: change.workflowIds ?? nil,
            description: change.description ?? "")
        c.logger.info("webhook subscription created", metadata: ["webhook.subscription_id": "\(subscription.id.lowercaseText)"])
        var response = Response(status: .created, json: WebhookJSON.subscription(subscription, secret: secret))
        response.headers[.location] = "/api/v1/webhooks/\(subscription.id.lowercaseText)"
        return response
    }

    func listWebhooks(_ c: RouteContext) throws -> Response {
        let items = try webhookService().repository.subscriptions().map { WebhookJSON.subscription($0) }
        return Response(status: .ok, json: "{\"items\":[\(items.joined(separator: ","))]}")
    }

    func webhook(_ c: RouteContext) throws -> Response {
        guard let found = try webhookService().repository.subscription(id: webhookId(c)) else { throw Self.webhookNotFound }
        return Response(status: .ok, json: WebhookJSON.subscription(found))
    }

    func updateWebhook(_ c: RouteContext) throws -> Response {
        let service = try webhookService()
        let change = try Self.webhookChange(try jsonBody(c.request, required: true), creating: false)
        guard let updated = try service.repository.updateSubscription(id: webhookId(c), change) else { throw Self.webhookNotFound }
        return Response(status: .ok, json: WebhookJSON.subscription(updated))
    }

    func deleteWebhook(_ c: RouteContext) throws -> Response {
        guard try webhookService().repository.deleteSubscription(id: webhookId(c)) else { throw Self.webhookNotFound }
        return Response(status: .noContent, json: "")
    }

    func rotateWebhookSecret(_ c: RouteContext) throws -> Response {
        guard let (subscription, secret) = try webhookService().rotateSecret(id: webhookId(c)) else { throw Self.webhookNotFound }
        c.logger.info("webhook secret rotated", metadata: ["webhook.subscription_id": "\(subscription.id.lowercaseText)"])
        return Response(status: .ok, json: WebhookJSON.subscription(subscription, secret: secret))
    }

    func webhookDeliveries(_ c: RouteContext) throws -> Response {
        var limit = 50
        if let raw = c.request.queryValue("limit") {
            guard let value = Int(raw), (1...200).contains(value) else { throw Problem.validation([("limit", "must be an integer from 1 to 200")]) }
            limit = value
        }
        guard let list = try webhookService().repository.deliveries(subscriptionId: webhookId(c), limit: limit) else {
            throw Self.webhookNotFound
        }
        return Response(status: .ok, json: "{\"items\":[\(list.map(WebhookJSON.delivery).joined(separator: ","))]}")
    }

    func redeliverWebhook(_ c: RouteContext) throws -> Response {
        let deliveryId = c.uuid("deliveryId")
        guard let delivery = try webhookService().repository.redeliver(subscriptionId: webhookId(c), deliveryId: deliveryId) else {
            throw Problem(.notFound, "not-found", title: "Not Found", detail: "This webhook subscription has no delivery with this id.")
        }
        return Response(status: .accepted, json: WebhookJSON.delivery(delivery))
    }

    /// The members of a create or update body, validated; every problem is reported at once.
    static func webhookChange(_ body: JSONValue?, creating: Bool) throws -> WebhookSubscriptionChange {
        guard case .object(let members)? = body else { throw Problem.validation([("body", "must be a JSON object")]) }
        var errors: [(String, String)] = []
        var change = WebhookSubscriptionChange()
        for (key, _) in members where !webhookMembers.contains(key) || (creating && key == "active") {
            errors.append((key, "is not a member of a webhook subscription"))
        }
        switch body?["url"] {
        case .string(let url): if let problem = urlProblem(url) { errors.append(("url", problem)) } else { change.url = url }
        case nil: if creating { errors.append(("url", "is required")) }
        case let other?: errors.append(("url", "must be a string, not \(other.typeName)"))
        }
        switch body?["eventTypes"] {
        case nil: break
        case .string("all")?, .null?: change.eventTypes = .some(nil)
        case .array(let items)? where !items.isEmpty:
            var types: [WorkflowEventType] = []
            for item in items {
                if case .string(let name) = item, let type = WorkflowEventType(rawValue: name) {
                    if !types.contains(type) { types.append(type) }
                } else {
                    let known = WorkflowEventType.allCases.map(\.rawValue).joined(separator: ", ")
                    errors.append(("eventTypes", "\(item.serialized.prefix(64)) is not an event type; use \"all\" or some of \(known)"))
                }
            }
            change.eventTypes = .some(types)
        case let other?: errors.append(("eventTypes", "must be \"all\" or a non-empty array of event types, not \(other.typeName)"))
        }
        switch body?["workflowIds"] {
        case nil: break
        case .null?: change.workflowIds = .some(nil)
        case .array(let items)? where (1...1000).contains(items.count):
            var ids: [UUID] = []
            for item in items {
                if case .string(let text) = item, text.utf8.count == 36, let id = UUID(text: text) {
                    if !ids.contains(id) { ids.append(id) }
                } else {
                    errors.append(("workflowIds", "\(item.serialized.prefix(64)) is not a workflow instance id (a UUID)"))
                }
            }
            change.workflowIds = .some(ids)
        case let other?: errors.append(("workflowIds", "must be null or an array of 1 to 1000 workflow instance ids, not \(other.typeName)"))
        }
        switch body?["description"] {
        case nil, .null?: break
        case .string(let text) where text.count <= 1000: change.description = text
        case .string: errors.append(("description", "must be at most 1000 characters"))
        case let other?: errors.append(("description", "must be a string, not \(other.typeName)"))
        }
        switch body?["active"] {
        case nil: break
        case .bool(let value)?: change.active = value
        case let other?: errors.append(("active", "must be a boolean, not \(other.typeName)"))
        }
        guard errors.isEmpty else { throw Problem.validation(errors) }
        return change
    }

    /// Why a subscription URL is refused, or nil. Where it may point (the address allow-list) is checked
    /// at every delivery against the address actually connected to, not here.
    static func urlProblem(_ url: String) -> String? {
        guard url.utf8.count <= 2048 else { return "must be at most 2048 bytes" }
        guard let parts = URLComponents(string: url), let scheme = parts.scheme?.lowercased(), ["http", "https"].contains(scheme),
            let host = parts.host, !host.isEmpty, url.lowercased().hasPrefix(scheme + "://")
        else { return "must be an absolute http:// or https:// URL with a host" }
        if parts.fragment != nil { return "must not have a fragment" }
        return nil
    }
}

/// JSON of the webhook resources.
enum WebhookJSON {
    static func subscription(_ s: WebhookSubscription, secret: WebhookSecret? = nil) -> String {
        var out = "{\"id\":\"\(s.id.lowercaseText)\",\"url\":\(JSONString.quoted(s.url))"
        out += ",\"eventTypes\":" + (s.eventTypes.map { "[" + $0.map { "\"\($0.rawValue)\"" }.joined(separator: ",") + "]" } ?? "\"all\"")
        out += ",\"workflowIds\":" + (s.workflowIds.map { "[" + $0.map { "\"\($0.lowercaseText)\"" }.joined(separator: ",") + "]" } ?? "null")
        out += ",\"description\":\(JSONString.quoted(s.description)),\"active\":\(s.active)"
        out += ",\"disabledReason\":" + (s.disabledReason.map(JSONString.quoted) ?? "null")
        out += ",\"consecutiveFailures\":\(s.consecutiveFailures)"
        out += ",\"previousSecretExpiresAt\":" + time(s.previousSecretExpiresAt)
        if let secret { out += ",\"secret\":\(JSONString.quoted(secret.text))" }
        out += ",\"createdAt\":\(time(s.createdAt)),\"updatedAt\":\(time(s.updatedAt))}"
        return out
    }

    static func delivery(_ d: WebhookDelivery) -> String {
        var out = "{\"id\":\"\(d.id.lowercaseText)\",\"webhookId\":\"\(d.subscriptionId.lowercaseText)\",\"eventId\":\(d.eventId)"
        out += ",\"eventType\":" + (d.eventType.map { "\"\($0.rawValue)\"" } ?? "null")
        out += ",\"workflowInstanceId\":\"\(d.workflowInstanceId.lowercaseText)\",\"state\":\"\(d.state.rawValue)\",\"attempts\":\(d.attempts)"
        out += ",\"nextAttemptAt\":\(time(d.nextAttemptAt)),\"lastAttemptAt\":\(time(d.lastAttemptAt))"
        out += ",\"lastStatusCode\":" + (d.lastStatusCode.map(String.init) ?? "null")
        out += ",\"lastError\":" + (d.lastError.map(JSONString.quoted) ?? "null")
        out += ",\"lastDurationMs\":" + (d.lastDurationMilliseconds.map(String.init) ?? "null")
        out += ",\"createdAt\":\(time(d.createdAt)),\"completedAt\":\(time(d.completedAt))}"
        return out
    }

    private static func time(_ t: Timestamp?) -> String {
        t.map { "\"\(JSONWriter.timestamp($0))\"" } ?? "null"
    }
}
