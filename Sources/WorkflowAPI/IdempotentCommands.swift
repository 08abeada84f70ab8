import Crypto
import Foundation
import HTTPHead
import HTTPTypes
import TextCoding
import Workflows

/// `Idempotency-Key` on commands (transitions, advance, input, approvals, retry). The command runs in
/// one transaction with its key: its writes and its answer (status, body, ETag/Location) commit together,
/// or none of them do. So the same request sent again gets the same answer with `Idempotent-Replayed:
/// true` and no second effect, whatever failed in between; a different request with the key is 422, and
/// one sent while the first is still being answered is 409.
extension WorkflowAPI {
    func idempotent(_ c: RouteContext, _ command: () throws -> Response) throws -> Response {
        guard let key = c.request.head.headerFields.first(.idempotencyKey) else { return try command() }
        if let error = Self.idempotencyKeyError(key) { throw Problem.validation([error]) }
        let claim = IdempotencyClaim(key: key, requestHash: Self.commandFingerprint(c.request))
        let outcome = try service.keyed(claim, by: c.principal!) {
            let response: Response
            do {
                response = try command()
            } catch let problem as Problem {
                response = .problem(problem)
            } catch let error as WorkflowError {
                response = .problem(.from(error))
            }
            // A refusal (4xx) is an answer and is kept; a 5xx (the database away, contention) keeps nothing,
            // so the same request may be sent again with the key and run then.
            return KeyedAnswer(response, stored: response.status.kind == .serverError ? nil : response.stored(request: c.request))
        }
        switch outcome {
        case .ran(let response): return response
        case .replay(let stored): return Response(replaying: stored)
        case .keyReused: throw WorkflowError.idempotencyKeyReused
        case .inFlight: throw WorkflowError.idempotencyKeyInFlight
        }
    }

    /// Why `key` is not a usable `Idempotency-Key` (creates and commands alike), or nil.
    static func idempotencyKeyError(_ key: String) -> (String, String)? {
        guard (1...255).contains(key.utf8.count), key.utf8.allSatisfy({ (0x21...0x7E).contains($0) }) else {
            return ("Idempotency-Key", "must be 1 to 255 visible ASCII characters")
        }
        return nil
    }

    /// What "the same request" means for a command: method, path, `If-Match` and the body's bytes.
    static func commandFingerprint(_ request: APIRequest) -> String {
        var bytes = Array("\(request.head.method.rawValue) \(request.path)\n\(request.head.headerFields.first(.ifMatch) ?? "")\n".utf8)
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
            // Written by this service, but read back from the database: checked like any outside text.
            if name == .contentType { contentType = HeaderFields.legal(value) } else { headers[name] = HeaderFields.legal(value) }
        }
        headers[.idempotentReplayed] = "true"
    }
}
