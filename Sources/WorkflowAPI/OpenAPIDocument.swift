/// The OpenAPI 3.1 document of this API, served at GET /api/v1/openapi.json and printed by
/// `workflowd openapi`. Edit it here; tests check real responses against it.
public enum OpenAPIDocument {
    public static let json = #"""
{
  "openapi": "3.1.0",
  "info": {
    "title": "workflowd",
    "version": "1.0.0",
    "summary": "Workflow instances for the BMAD method.",
    "description": "workflowd runs instances of BMAD-method (BMad Method) workflows: each instance follows the ordered steps of a workflow definition (for example `create-prd`, `create-architecture`, `create-story`, `dev-story`, `code-review`) and moves through the workflow status machine described at `GET /api/v1/workflow-states`.\n\n## Authentication\n\nEvery operation except `GET /api/v1/health` and `GET /api/v1/openapi.json` requires `Authorization: Bearer <JWT>`. Tokens are signed with HS256 using the shared secret, or with RS256/ES256 by a key published in the configured JWKS. `sub` must be the user's UUID, `exp` is required, and roles come from `roles` (array of strings) or `role` (string or array of strings). A missing, malformed, expired or wrongly signed token answers 401 with a `WWW-Authenticate: Bearer ...` challenge.\n\n## Roles\n\n- **Participant** creates workflow instances and acts on (transitions, advances) its own instances.\n- **Viewer** reads its own instances and their events.\n- **Admin** reads and acts on all instances and may filter listings by `userId`.\n\nAn instance belonging to another user is invisible to non-admins and answers 404, exactly like an unknown id. A token without the role an operation needs answers 403.\n\n## Conventions\n\n- JSON members are camelCase; request bodies are `application/json` (anything else answers 415).\n- Timestamps are RFC 3339 UTC with milliseconds and `Z`, e.g. `2025-01-31T12:34:56.789Z`.\n- Instance ids are UUIDs; a path id that is not a UUID answers 404.\n- Instance responses carry an `ETag` holding the quoted version (e.g. `\"3\"`); send it back in `If-Match` on transitions and advances for optimistic concurrency (a stale value answers 412).\n- Every error is an RFC 9457 problem document (`application/problem+json`).\n- Every response carries `X-Request-Id` (set by nginx and echoed in problem documents as `requestId`).\n- A method a path does not support answers 405 with an `Allow` header (see the `MethodNotAllowed` response).\n- When the database is unavailable, operations that need it answer 503 with `Retry-After`.\n"
  },
  "servers": [
    {
      "url": "/"
    }
  ],
  "security": [
    {
      "bearerAuth": []
    }
  ],
  "tags": [
    {
      "name": "Meta",
      "description": "Health and this document."
    },
    {
      "name": "Definitions",
      "description": "The workflow catalogue and status machine."
    },
    {
      "name": "Workflows",
      "description": "Workflow instances and their history."
    }
  ],
  "paths": {
    "/api/v1/health": {
      "get": {
        "operationId": "getHealth",
        "tags": [
          "Meta"
        ],
        "summary": "Liveness and database health",
        "description": "Answers 200 when the service and its database are healthy, 503 (same body shape) when the database is unavailable. Needs no authentication.",
        "security": [],
        "responses": {
          "200": {
            "description": "Healthy.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                },
                "example": {
                  "status": "ok",
                  "database": "ok"
                }
              }
            }
          },
          "503": {
            "description": "The database is unavailable.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              },
              "Retry-After": {
                "description": "Seconds to wait before retrying.",
                "required": false,
                "schema": {
                  "type": "integer",
                  "minimum": 0
                }
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/Health"
                },
                "example": {
                  "status": "unavailable",
                  "database": "unavailable",
                  "detail": "could not connect to the database"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/openapi.json": {
      "get": {
        "operationId": "getOpenAPI",
        "tags": [
          "Meta"
        ],
        "summary": "This OpenAPI document",
        "security": [],
        "responses": {
          "200": {
            "description": "The OpenAPI 3.1 document.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "type": "object"
                }
              }
            }
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflow-states": {
      "get": {
        "operationId": "getWorkflowStates",
        "tags": [
          "Definitions"
        ],
        "summary": "The workflow status machine",
        "description": "The statuses, the terminal ones and the allowed transitions between them.",
        "responses": {
          "200": {
            "description": "The status machine.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowStates"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflow-definitions": {
      "get": {
        "operationId": "listWorkflowDefinitions",
        "tags": [
          "Definitions"
        ],
        "summary": "List workflow definitions",
        "description": "All BMAD-method workflow definitions with their steps.",
        "responses": {
          "200": {
            "description": "The definitions.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/DefinitionList"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflow-definitions/{definitionId}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/DefinitionId"
        }
      ],
      "get": {
        "operationId": "getWorkflowDefinition",
        "tags": [
          "Definitions"
        ],
        "summary": "Get a workflow definition",
        "responses": {
          "200": {
            "description": "The definition.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowDefinition"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflows": {
      "post": {
        "operationId": "createWorkflow",
        "tags": [
          "Workflows"
        ],
        "summary": "Create a workflow instance",
        "description": "Creates an instance of the given workflow definition in status `Created` with `currentStep` 0, owned by the caller, and writes an `InstanceCreated` event in the same transaction. `parameters` becomes the instance's `context`. Requires the Participant or Admin role. An unknown `workflowId` answers 400.",
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/CreateWorkflowRequest"
              },
              "example": {
                "workflowId": "create-prd",
                "parameters": {
                  "project": "workflowd"
                }
              }
            }
          }
        },
        "responses": {
          "201": {
            "description": "Created.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              },
              "Location": {
                "$ref": "#/components/headers/Location"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              },
              "Idempotent-Replayed": {
                "$ref": "#/components/headers/IdempotentReplayed"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowInstance"
                }
              }
            },
            "links": {
              "GetWorkflow": {
                "operationId": "getWorkflow",
                "parameters": {
                  "workflowInstanceId": "$response.body#/id"
                }
              },
              "TransitionWorkflow": {
                "operationId": "transitionWorkflow",
                "parameters": {
                  "workflowInstanceId": "$response.body#/id"
                }
              },
              "AdvanceWorkflow": {
                "operationId": "advanceWorkflow",
                "parameters": {
                  "workflowInstanceId": "$response.body#/id"
                }
              },
              "ListWorkflowEvents": {
                "operationId": "listWorkflowEvents",
                "parameters": {
                  "workflowInstanceId": "$response.body#/id"
                }
              }
            }
          },
          "400": {
            "description": "Malformed JSON, a missing or mistyped field, `parameters` not an object, or an unknown `workflowId`.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                },
                "example": {
                  "type": "/problems/validation-failed",
                  "title": "Invalid request",
                  "status": 400,
                  "detail": "The request body is invalid.",
                  "errors": {
                    "workflowId": [
                      "is required"
                    ]
                  }
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "422": {
            "$ref": "#/components/responses/UnprocessableContent"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        },
        "parameters": [
          {
            "$ref": "#/components/parameters/IdempotencyKey"
          }
        ]
      },
      "get": {
        "operationId": "listWorkflows",
        "tags": [
          "Workflows"
        ],
        "summary": "List workflow instances",
        "description": "The caller's instances (an Admin's: everyone's, or one user's with `userId`), newest first, keyset-paginated. A non-admin passing `userId` answers 403. Invalid query values answer 400.",
        "parameters": [
          {
            "name": "status",
            "in": "query",
            "required": false,
            "description": "Only instances in this status.",
            "schema": {
              "$ref": "#/components/schemas/WorkflowStatus"
            }
          },
          {
            "name": "workflowId",
            "in": "query",
            "required": false,
            "description": "Only instances of this workflow definition.",
            "schema": {
              "type": "string"
            }
          },
          {
            "name": "userId",
            "in": "query",
            "required": false,
            "description": "Only this user's instances (Admin only; others get 403).",
            "schema": {
              "type": "string",
              "format": "uuid"
            }
          },
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "Page size.",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 100,
              "default": 20
            }
          },
          {
            "$ref": "#/components/parameters/Cursor"
          }
        ],
        "responses": {
          "200": {
            "description": "A page of instances.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/InstancePage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflows/{workflowInstanceId}": {
      "parameters": [
        {
          "$ref": "#/components/parameters/WorkflowInstanceId"
        }
      ],
      "get": {
        "operationId": "getWorkflow",
        "tags": [
          "Workflows"
        ],
        "summary": "Get a workflow instance",
        "responses": {
          "200": {
            "description": "The instance.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowInstance"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflows/{workflowInstanceId}/transitions": {
      "parameters": [
        {
          "$ref": "#/components/parameters/WorkflowInstanceId"
        }
      ],
      "post": {
        "operationId": "transitionWorkflow",
        "tags": [
          "Workflows"
        ],
        "summary": "Change a workflow instance's status",
        "description": "Moves the instance to the status named by `to`, provided the workflow status machine allows it from the instance's current status. Transition table (from → allowed targets):\n\n| From | Allowed targets |\n| --- | --- |\n| Created | Running, Cancelled |\n| Running | Paused, WaitingForInput, WaitingForApproval, Completed, Failed, Cancelled |\n| Paused | Running, Cancelled |\n| WaitingForInput | Running, Paused, Failed, Cancelled |\n| WaitingForApproval | Running, Failed, Cancelled |\n| Completed | — (terminal) |\n| Failed | — (terminal) |\n| Cancelled | — (terminal) |\n\nCompleted, Failed and Cancelled are terminal: no transition leaves them.\n\n`Created → Running` starts the workflow and sets `currentStep` to 1 (the first step of the definition). Every successful transition increments `version` and writes exactly one `StatusChanged` event (with `fromStatus`, `toStatus`, `step` and the optional `reason`) in the same database transaction as the status change.\n\nA transition the table does not allow answers 400 with `currentStatus`, `requestedStatus` and `allowedTransitions`, e.g. \"Cannot move a workflow from Created to Completed; from Created it can move to Running or Cancelled.\" An unknown status name in `to` also answers 400. If `If-Match` is sent and does not match the current version, the request answers 412 with `currentVersion`.\n\nRequires the Participant role (own instances) or Admin (any instance).",
        "parameters": [
          {
            "$ref": "#/components/parameters/IfMatch"
          }
        ],
        "requestBody": {
          "required": true,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/TransitionRequest"
              },
              "example": {
                "to": "Running",
                "reason": "Kick-off"
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The updated instance.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowInstance"
                }
              }
            }
          },
          "400": {
            "description": "Invalid transition, unknown status or malformed body.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                },
                "example": {
                  "type": "/problems/invalid-transition",
                  "title": "Invalid transition",
                  "status": 400,
                  "detail": "Cannot move a workflow from Created to Completed; from Created it can move to Running or Cancelled.",
                  "currentStatus": "Created",
                  "requestedStatus": "Completed",
                  "allowedTransitions": [
                    "Running",
                    "Cancelled"
                  ]
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "412": {
            "$ref": "#/components/responses/PreconditionFailed"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflows/{workflowInstanceId}/advance": {
      "parameters": [
        {
          "$ref": "#/components/parameters/WorkflowInstanceId"
        }
      ],
      "post": {
        "operationId": "advanceWorkflow",
        "tags": [
          "Workflows"
        ],
        "summary": "Complete the current step",
        "description": "Completes the instance's current step: records the body's `output` in `stepData` under the current step's id, writes a `StepCompleted` event, and moves `currentStep` to the next step. Completing the last step makes the instance `Completed`, which also writes a `StatusChanged` event (Running → Completed); all of this happens in one database transaction and increments `version`.\n\nOnly a `Running` instance can be advanced; any other status answers 400 with `currentStatus`. If `If-Match` is sent and does not match the current version, the request answers 412 with `currentVersion`.\n\nRequires the Participant role (own instances) or Admin (any instance).",
        "parameters": [
          {
            "$ref": "#/components/parameters/IfMatch"
          }
        ],
        "requestBody": {
          "required": false,
          "content": {
            "application/json": {
              "schema": {
                "$ref": "#/components/schemas/AdvanceRequest"
              },
              "example": {
                "output": {
                  "summary": "Goals agreed."
                }
              }
            }
          }
        },
        "responses": {
          "200": {
            "description": "The updated instance.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              },
              "ETag": {
                "$ref": "#/components/headers/ETag"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/WorkflowInstance"
                }
              }
            }
          },
          "400": {
            "description": "The instance is not Running, or the body is malformed.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                },
                "example": {
                  "type": "/problems/not-running",
                  "title": "Workflow not running",
                  "status": 400,
                  "detail": "Only a Running workflow can be advanced; this one is Paused.",
                  "currentStatus": "Paused"
                }
              }
            }
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "412": {
            "$ref": "#/components/responses/PreconditionFailed"
          },
          "413": {
            "$ref": "#/components/responses/PayloadTooLarge"
          },
          "415": {
            "$ref": "#/components/responses/UnsupportedMediaType"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/api/v1/workflows/{workflowInstanceId}/events": {
      "parameters": [
        {
          "$ref": "#/components/parameters/WorkflowInstanceId"
        }
      ],
      "get": {
        "operationId": "listWorkflowEvents",
        "tags": [
          "Workflows"
        ],
        "summary": "List a workflow instance's events",
        "description": "The instance's history, oldest first, keyset-paginated. Invalid query values answer 400.",
        "parameters": [
          {
            "name": "limit",
            "in": "query",
            "required": false,
            "description": "Page size.",
            "schema": {
              "type": "integer",
              "minimum": 1,
              "maximum": 100,
              "default": 50
            }
          },
          {
            "$ref": "#/components/parameters/Cursor"
          }
        ],
        "responses": {
          "200": {
            "description": "A page of events, oldest first.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "application/json": {
                "schema": {
                  "$ref": "#/components/schemas/EventPage"
                }
              }
            }
          },
          "400": {
            "$ref": "#/components/responses/BadRequest"
          },
          "401": {
            "$ref": "#/components/responses/Unauthorized"
          },
          "403": {
            "$ref": "#/components/responses/Forbidden"
          },
          "404": {
            "$ref": "#/components/responses/NotFound"
          },
          "500": {
            "$ref": "#/components/responses/InternalServerError"
          },
          "503": {
            "$ref": "#/components/responses/ServiceUnavailable"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    },
    "/metrics": {
      "get": {
        "operationId": "getMetrics",
        "tags": [
          "Operations"
        ],
        "security": [],
        "summary": "Prometheus metrics",
        "description": "Prometheus text exposition format: http_requests_total{route,method,status}, http_request_duration_seconds{route,method} (histogram), workflow_transitions_total{from,to}, db_pool_size, db_pool_connections_open, db_pool_connections_in_use, db_pool_waiting, db_pool_wait_seconds (histogram), db_errors_total{class} (SQLSTATE class, or the error kind without one), process_start_seconds. The shipped nginx config serves it to 127.0.0.1 and ::1 only (403 otherwise).",
        "responses": {
          "200": {
            "description": "The metrics.",
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            },
            "content": {
              "text/plain": {
                "schema": {
                  "type": "string"
                }
              }
            }
          },
          "403": {
            "description": "Not allowed from this address (nginx).",
            "content": {
              "application/problem+json": {
                "schema": {
                  "$ref": "#/components/schemas/Problem"
                }
              }
            },
            "headers": {
              "X-Request-Id": {
                "$ref": "#/components/headers/XRequestId"
              }
            }
          },
          "405": {
            "$ref": "#/components/responses/MethodNotAllowed"
          },
          "default": {
            "$ref": "#/components/responses/Default"
          }
        }
      }
    }
  },
  "components": {
    "securitySchemes": {
      "bearerAuth": {
        "type": "http",
        "scheme": "bearer",
        "bearerFormat": "JWT",
        "description": "A JWT signed with HS256 (shared secret) or RS256/ES256 (JWKS); `sub` is the user UUID, roles in `roles` or `role`, `exp` required."
      }
    },
    "headers": {
      "XRequestId": {
        "description": "The request's correlation id, set by nginx on every response.",
        "required": true,
        "schema": {
          "type": "string"
        }
      },
      "WWWAuthenticate": {
        "description": "The Bearer challenge, e.g. `Bearer realm=\"workflowd\", error=\"invalid_token\"`.",
        "required": true,
        "schema": {
          "type": "string"
        }
      },
      "Allow": {
        "description": "The methods the path supports, e.g. `GET, POST`.",
        "required": true,
        "schema": {
          "type": "string"
        }
      },
      "RetryAfter": {
        "description": "Seconds to wait before retrying.",
        "required": true,
        "schema": {
          "type": "integer",
          "minimum": 0
        }
      },
      "Location": {
        "description": "The path of the created instance, e.g. `/api/v1/workflows/{id}`.",
        "required": true,
        "schema": {
          "type": "string",
          "format": "uri-reference"
        }
      },
      "ETag": {
        "description": "The instance's version as a quoted strong entity tag, e.g. `\"3\"`.",
        "required": true,
        "schema": {
          "type": "string",
          "pattern": "^\"[0-9]+\"$"
        }
      },
      "IdempotentReplayed": {
        "description": "`true` when this response replays the original answer to an earlier request with the same Idempotency-Key.",
        "schema": {
          "type": "string",
          "enum": [
            "true"
          ]
        }
      }
    },
    "parameters": {
      "WorkflowInstanceId": {
        "name": "workflowInstanceId",
        "in": "path",
        "required": true,
        "description": "The instance's UUID. An unknown id, an instance of another user (for non-admins) and an id that is not a UUID all answer 404.",
        "schema": {
          "type": "string",
          "format": "uuid"
        }
      },
      "DefinitionId": {
        "name": "definitionId",
        "in": "path",
        "required": true,
        "description": "The workflow definition's id, e.g. `create-prd`. An unknown id answers 404.",
        "schema": {
          "type": "string"
        },
        "example": "create-prd"
      },
      "IfMatch": {
        "name": "If-Match",
        "in": "header",
        "required": false,
        "description": "The instance's `ETag` as last seen, e.g. `\"3\"`. When sent and stale, the request answers 412. Only `*` or one strong quoted version such as `\"3\"`; other forms (weak tags, lists) answer 400.",
        "schema": {
          "type": "string",
          "pattern": "^(\\*|\"[1-9][0-9]{0,17}\")$"
        },
        "example": "\"3\""
      },
      "Cursor": {
        "name": "cursor",
        "in": "query",
        "required": false,
        "description": "The opaque `nextCursor` of the previous page. A cursor the server did not issue answers 400.",
        "schema": {
          "type": "string",
          "minLength": 1
        }
      },
      "IdempotencyKey": {
        "name": "Idempotency-Key",
        "in": "header",
        "required": false,
        "description": "Makes the create safe to retry (IETF Idempotency-Key draft, Stripe's semantics). 1-255 visible ASCII characters, scoped to the token's `sub`, kept 24 hours. The same key with the same body replays the original 201 (with `Idempotent-Replayed: true`) and creates nothing; the same key with a different body is a 422. A concurrent duplicate waits for the first request to commit and then gets the replay.",
        "schema": {
          "type": "string",
          "minLength": 1,
          "maxLength": 255,
          "pattern": "^[!-~]+$"
        }
      }
    },
    "schemas": {
      "WorkflowStatus": {
        "type": "string",
        "description": "The status of a workflow instance.",
        "enum": [
          "Created",
          "Running",
          "Paused",
          "WaitingForInput",
          "WaitingForApproval",
          "Completed",
          "Failed",
          "Cancelled"
        ]
      },
      "Timestamp": {
        "type": "string",
        "format": "date-time",
        "description": "RFC 3339 UTC timestamp with milliseconds and `Z`.",
        "pattern": "^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\\.[0-9]{3}Z$",
        "examples": [
          "2025-01-31T12:34:56.789Z"
        ]
      },
      "WorkflowStep": {
        "type": "object",
        "description": "One step of a workflow definition.",
        "required": [
          "id",
          "name"
        ],
        "additionalProperties": false,
        "properties": {
          "id": {
            "type": "string",
            "description": "The step's kebab-case id; the key of its output in `stepData`.",
            "examples": [
              "goals-and-background"
            ]
          },
          "name": {
            "type": "string",
            "description": "The step's human-readable name.",
            "examples": [
              "Goals and background context"
            ]
          }
        }
      },
      "WorkflowDefinition": {
        "type": "object",
        "description": "A BMAD-method workflow and its ordered steps.",
        "required": [
          "id",
          "name",
          "description",
          "steps"
        ],
        "additionalProperties": false,
        "properties": {
          "id": {
            "type": "string",
            "examples": [
              "create-prd"
            ]
          },
          "name": {
            "type": "string",
            "examples": [
              "Create PRD"
            ]
          },
          "description": {
            "type": "string"
          },
          "steps": {
            "type": "array",
            "minItems": 1,
            "items": {
              "$ref": "#/components/schemas/WorkflowStep"
            }
          }
        }
      },
      "DefinitionList": {
        "type": "object",
        "required": [
          "items"
        ],
        "additionalProperties": false,
        "properties": {
          "items": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowDefinition"
            }
          }
        }
      },
      "WorkflowInstance": {
        "type": "object",
        "description": "A running (or finished) instance of a workflow definition.",
        "required": [
          "id",
          "workflowDefinitionId",
          "userId",
          "status",
          "currentStep",
          "totalSteps",
          "context",
          "stepData",
          "allowedTransitions",
          "version",
          "createdAt",
          "updatedAt"
        ],
        "additionalProperties": false,
        "properties": {
          "id": {
            "type": "string",
            "format": "uuid"
          },
          "workflowDefinitionId": {
            "type": "string",
            "description": "The id of the workflow definition, e.g. `create-prd`."
          },
          "userId": {
            "type": "string",
            "format": "uuid",
            "description": "The owner (the `sub` of the token that created it)."
          },
          "status": {
            "$ref": "#/components/schemas/WorkflowStatus"
          },
          "currentStep": {
            "type": "integer",
            "minimum": 0,
            "description": "1-based index of the current step in the definition's steps; 0 until the instance is started."
          },
          "totalSteps": {
            "type": "integer",
            "minimum": 1,
            "description": "The number of steps of the definition."
          },
          "context": {
            "type": "object",
            "description": "The `parameters` given at creation."
          },
          "stepData": {
            "type": "object",
            "description": "Outputs of completed steps, keyed by step id."
          },
          "allowedTransitions": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowStatus"
            },
            "description": "The statuses the instance may move to from its current status."
          },
          "version": {
            "type": "integer",
            "minimum": 1,
            "description": "Incremented on every change; the `ETag` holds it quoted."
          },
          "createdAt": {
            "$ref": "#/components/schemas/Timestamp"
          },
          "updatedAt": {
            "$ref": "#/components/schemas/Timestamp"
          }
        },
        "examples": [
          {
            "id": "6f1c2a7e-3b4d-4e5f-8a9b-0c1d2e3f4a5b",
            "workflowDefinitionId": "create-prd",
            "userId": "0b9d7c6e-5f4a-4b3c-9d2e-1f0a9b8c7d6e",
            "status": "Running",
            "currentStep": 2,
            "totalSteps": 8,
            "context": {
              "project": "workflowd"
            },
            "stepData": {
              "initialize-discovery": {
                "notes": "Brief reviewed."
              }
            },
            "allowedTransitions": [
              "Paused",
              "WaitingForInput",
              "WaitingForApproval",
              "Completed",
              "Failed",
              "Cancelled"
            ],
            "version": 3,
            "createdAt": "2025-01-31T12:34:56.789Z",
            "updatedAt": "2025-01-31T12:40:01.002Z"
          }
        ]
      },
      "InstancePage": {
        "type": "object",
        "required": [
          "items",
          "nextCursor"
        ],
        "additionalProperties": false,
        "properties": {
          "items": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowInstance"
            }
          },
          "nextCursor": {
            "type": [
              "string",
              "null"
            ],
            "description": "Pass as `cursor` to get the next page; null on the last page."
          }
        }
      },
      "WorkflowEvent": {
        "type": "object",
        "description": "One entry of an instance's history.",
        "required": [
          "id",
          "type",
          "fromStatus",
          "toStatus",
          "step",
          "reason",
          "data",
          "userId",
          "occurredAt"
        ],
        "additionalProperties": false,
        "properties": {
          "id": {
            "type": "integer",
            "minimum": 1
          },
          "type": {
            "type": "string",
            "enum": [
              "InstanceCreated",
              "StatusChanged",
              "StepCompleted"
            ]
          },
          "fromStatus": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/WorkflowStatus"
              },
              {
                "type": "null"
              }
            ]
          },
          "toStatus": {
            "anyOf": [
              {
                "$ref": "#/components/schemas/WorkflowStatus"
              },
              {
                "type": "null"
              }
            ]
          },
          "step": {
            "type": "integer",
            "minimum": 0,
            "description": "The instance's step the event refers to."
          },
          "reason": {
            "type": [
              "string",
              "null"
            ]
          },
          "data": {
            "type": [
              "object",
              "null"
            ],
            "description": "Event payload, e.g. the step output recorded by a StepCompleted event."
          },
          "userId": {
            "type": "string",
            "format": "uuid",
            "description": "The user who caused the event."
          },
          "occurredAt": {
            "$ref": "#/components/schemas/Timestamp"
          }
        }
      },
      "EventPage": {
        "type": "object",
        "required": [
          "items",
          "nextCursor"
        ],
        "additionalProperties": false,
        "properties": {
          "items": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowEvent"
            }
          },
          "nextCursor": {
            "type": [
              "string",
              "null"
            ],
            "description": "Pass as `cursor` to get the next page; null on the last page."
          }
        }
      },
      "WorkflowStates": {
        "type": "object",
        "description": "The workflow status machine.",
        "required": [
          "states",
          "terminal",
          "transitions"
        ],
        "additionalProperties": false,
        "properties": {
          "states": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowStatus"
            }
          },
          "terminal": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowStatus"
            }
          },
          "transitions": {
            "type": "object",
            "description": "For each status, the statuses it may move to.",
            "propertyNames": {
              "$ref": "#/components/schemas/WorkflowStatus"
            },
            "additionalProperties": {
              "type": "array",
              "items": {
                "$ref": "#/components/schemas/WorkflowStatus"
              }
            }
          }
        },
        "examples": [
          {
            "states": [
              "Created",
              "Running",
              "Paused",
              "WaitingForInput",
              "WaitingForApproval",
              "Completed",
              "Failed",
              "Cancelled"
            ],
            "terminal": [
              "Completed",
              "Failed",
              "Cancelled"
            ],
            "transitions": {
              "Created": [
                "Running",
                "Cancelled"
              ],
              "Running": [
                "Paused",
                "WaitingForInput",
                "WaitingForApproval",
                "Completed",
                "Failed",
                "Cancelled"
              ],
              "Paused": [
                "Running",
                "Cancelled"
              ],
              "WaitingForInput": [
                "Running",
                "Paused",
                "Failed",
                "Cancelled"
              ],
              "WaitingForApproval": [
                "Running",
                "Failed",
                "Cancelled"
              ],
              "Completed": [],
              "Failed": [],
              "Cancelled": []
            }
          }
        ]
      },
      "Health": {
        "type": "object",
        "required": [
          "status",
          "database"
        ],
        "additionalProperties": false,
        "properties": {
          "status": {
            "type": "string",
            "enum": [
              "ok",
              "unavailable"
            ]
          },
          "database": {
            "type": "string",
            "enum": [
              "ok",
              "unavailable"
            ]
          },
          "detail": {
            "type": "string"
          }
        }
      },
      "Problem": {
        "type": "object",
        "description": "An RFC 9457 problem document.",
        "required": [
          "type",
          "title",
          "status",
          "detail"
        ],
        "properties": {
          "type": {
            "type": "string",
            "format": "uri-reference",
            "description": "A URI reference identifying the problem type."
          },
          "title": {
            "type": "string"
          },
          "status": {
            "type": "integer",
            "minimum": 100,
            "maximum": 599
          },
          "detail": {
            "type": "string"
          },
          "instance": {
            "type": "string",
            "description": "The request path."
          },
          "requestId": {
            "type": "string"
          },
          "errors": {
            "type": "object",
            "description": "Validation failures: field name → messages.",
            "additionalProperties": {
              "type": "array",
              "items": {
                "type": "string"
              }
            }
          },
          "currentStatus": {
            "type": "string"
          },
          "requestedStatus": {
            "type": "string"
          },
          "allowedTransitions": {
            "type": "array",
            "items": {
              "$ref": "#/components/schemas/WorkflowStatus"
            }
          },
          "currentVersion": {
            "type": "integer",
            "minimum": 1
          }
        }
      },
      "CreateWorkflowRequest": {
        "type": "object",
        "required": [
          "workflowId"
        ],
        "properties": {
          "workflowId": {
            "type": "string",
            "minLength": 1,
            "maxLength": 64,
            "pattern": "^[a-z0-9][a-z0-9-]*$",
            "description": "The id of a workflow definition (see `GET /api/v1/workflow-definitions`); an unknown id answers 400.",
            "examples": [
              "create-prd"
            ]
          },
          "parameters": {
            "type": [
              "object",
              "null"
            ],
            "description": "Free-form parameters; stored as the instance's `context`. null is the same as absent."
          }
        }
      },
      "TransitionRequest": {
        "type": "object",
        "required": [
          "to"
        ],
        "properties": {
          "to": {
            "type": "string",
            "description": "The target status, one of the `WorkflowStatus` names; any other value answers 400.",
            "examples": [
              "Running"
            ]
          },
          "reason": {
            "type": [
              "string",
              "null"
            ],
            "maxLength": 1000,
            "description": "Why; recorded on the StatusChanged event. null is the same as absent."
          }
        }
      },
      "AdvanceRequest": {
        "type": "object",
        "properties": {
          "output": {
            "type": [
              "object",
              "null"
            ],
            "description": "The current step's output, recorded in `stepData` under the step's id. null is the same as absent."
          }
        }
      }
    },
    "responses": {
      "BadRequest": {
        "description": "The request is malformed or invalid (see `detail` and, for validation failures, `errors`).",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Unauthorized": {
        "description": "Missing, malformed, expired or wrongly signed bearer token.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          },
          "WWW-Authenticate": {
            "$ref": "#/components/headers/WWWAuthenticate"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Forbidden": {
        "description": "The token lacks the role the operation needs.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "NotFound": {
        "description": "No such resource visible to the caller.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "MethodNotAllowed": {
        "description": "The path does not support the method.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          },
          "Allow": {
            "$ref": "#/components/headers/Allow"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "PreconditionFailed": {
        "description": "`If-Match` does not match the instance's current version (see `currentVersion`).",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            },
            "example": {
              "type": "/problems/version-mismatch",
              "title": "Precondition failed",
              "status": 412,
              "detail": "The workflow is at version 4, not 3.",
              "currentVersion": 4
            }
          }
        }
      },
      "PayloadTooLarge": {
        "description": "The request body is too large.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "UnsupportedMediaType": {
        "description": "The request body is not `application/json`.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "InternalServerError": {
        "description": "Unexpected server error.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "ServiceUnavailable": {
        "description": "The database is unavailable; retry later.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          },
          "Retry-After": {
            "$ref": "#/components/headers/RetryAfter"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "Default": {
        "description": "Any other error, e.g. 502 or 504 from nginx when workflowd does not answer.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      },
      "UnprocessableContent": {
        "description": "The Idempotency-Key was already used with a different request.",
        "headers": {
          "X-Request-Id": {
            "$ref": "#/components/headers/XRequestId"
          }
        },
        "content": {
          "application/problem+json": {
            "schema": {
              "$ref": "#/components/schemas/Problem"
            }
          }
        }
      }
    }
  }
}
"""#
}
