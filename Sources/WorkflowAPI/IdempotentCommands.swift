import Crypto
import Foundation
import HTTPTypes
import TextCoding
import Workflows

/// `Idempotency-Key` on commands (transitions, advance, input, approvals, retry). The key is claimed
/// before the command runs and its answer stored after it, so the same request sent again gets the same
/// answer (status, body, ETag/Location) with `Idempotent-Replayed: true` and no second effect; a different
/// request with the key is 422, and one sent while the first is still being answered is 409.
///
/// Unlike a create, whose key is written in the same statement as the instance, a command's effect and
/// its stored answer are two statements: if the process dies between them, the key stays in flight for a
/// minute and then the same request runs again (the command's own conditions, e.g. `If-Match`, decide
/// whether it still applies).
extension WorkflowAPI {
    func idempotent(_ c: RouteContext, _ command: () throws -> Response) throws -> Response {
        guard let key = c.request.head.headerFields[.idempotencyKey] else { return try command() }
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            throw Problem.validation([("Idempotency-Key", "must be 1 to 255 visible ASCII characters")])
        }
        let principal = c.principal!
        let claim = IdempotencyClaim(key: key, requestHash: Self.commandFingerprint(c.request))
        switch try service.claimCommand(claim, by: principal) {
        case .keyReused: throw WorkflowError.idempotencyKeyReused
        case .inFlight: throw WorkflowError.idempotencyKeyInFlight
        case .replay(let stored): return Response(replaying: stored)
        case .claimed: break
        }
        let response: Response
        do {
            response = try command()
        } catch let problem as Problem {
            response = .problem(problem)
        } catch let error as WorkflowError {
            response = .problem(.from(error))
        } catch {
            try? service.finishCommand(claim, response: nil, by: principal)
            throw error
        }
        // A 5xx (the database away, contention) is worth retrying with the same key: give the key up.
        if response.status.kind == .serverError {
            try? service.finishCommand(claim, response: nil, by: principal)
        } else {
            try service.finishCommand(claim, response: response.stored(request: c.request), by: principal)
        }
        return response
    }

    /// What "the same request" means for a command: method, path, `If-Match` and the body's bytes.
    static func commandFingerprint(_ request: APIRequest) -> String {
        var bytes = Array("\(request.head.method.rawValue) \(request.path)\n\(request.head.headerFields[.ifMatch] ?? "")\n".utf8)
        bytes += request.body
        return Hex.encode(SHA256.hash(data: bytes))
    }
}

extension Response {
    /// The headers a replay gives back.
    static let storedHeaders: [HTTPField.Name] = [.contentType, .eTag, .location, .retryAfter]

    func stored(request: APIRequest) -> StoredResponse {
        let (head, body) = render(request: request)
        var headers: [String: String] = [:]
        for name in Self.storedHeaders { if let value = head.headerFields[name] { headers[name.canonicalName] = value } }
        return StoredResponse(status: head.status.code, headers: headers, body: String(decoding: body, as: UTF8.self))
    }

    init(replaying stored: StoredResponse) {
        self.init(status: HTTPResponse.Status(code: stored.status), json: stored.body)
        for name in Self.storedHeaders {
            guard let value = stored.headers[name.canonicalName] else { continue }
            if name == .contentType { contentType = value } else { headers[name] = value }
        }
        headers[.idempotentReplayed] = "true"
    }
}
