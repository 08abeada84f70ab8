public import Logging

/// The logger of the request being served (metadata `request_id`, `user_id`, `workflow_id`). The API binds
/// it around each handler; the service and the store log through it, so every line a request causes carries
/// its id without a logger parameter on every signature. A task-local value: bound per worker thread for the
/// duration of one synchronous request, never shared between requests.
public enum RequestScope {
    @TaskLocal public static var logger: Logger?
}
