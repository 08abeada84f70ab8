import Logging
import WorkflowAPI

/// What SIGHUP does: reads the JWT key files again and swaps the keys into the verifier, or, when the new
/// files are unusable, keeps the keys in use and says why. Requests are served throughout (see
/// `TokenVerifier.reload`).
final class KeyReloader: Sendable {
    let verifier: TokenVerifier
    let sources: TokenKeySources
    let logger: Logger

    init(verifier: TokenVerifier, sources: TokenKeySources, logger: Logger) {
        self.verifier = verifier
        self.sources = sources
        self.logger = logger
    }

    func reload() async {
        var metadata: Logger.Metadata = [:]
        if let path = sources.jwksFile { metadata["jwks_file"] = "\(path)" }
        if case .file(let path) = sources.secret { metadata["secret_file"] = "\(path)" }
        do throws(TokenKeyError) {
            let active = try await verifier.reload(try sources.read())
            metadata["keys"] = "\(active.joined(separator: ","))"
            logger.info("JWT keys reloaded", metadata: metadata)
        } catch {
            metadata["error"] = "\(error.description)"
            if let path = error.path { metadata["file"] = "\(path)" }
            logger.error("JWT keys not reloaded; the previous keys stay active", metadata: metadata)
        }
        if !sources.rereadsSecret {
            logger.notice(
                "the HS256 secret is unchanged: WORKFLOWD_JWT_SECRET comes from the environment, which a running process cannot re-read; set WORKFLOWD_JWT_SECRET_FILE to rotate it without a restart")
        }
    }
}
