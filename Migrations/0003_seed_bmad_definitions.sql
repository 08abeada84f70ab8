-- Seed the catalogue with the BMAD-method (BMad Method) workflows.
-- Each definition's steps are the workflow's real phases, in order, as {"id", "name"} objects;
-- an instance's current_step is a 1-based index into this array once it is Running.

-- Analysis (Analyst agent).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'create-product-brief',
    'Create Product Brief',
    'The Analyst works with the user to turn a product idea into a concise product brief that feeds the PRD.',
    '[
        {"id": "initialize", "name": "Initialize and gather inputs"},
        {"id": "vision", "name": "Problem and product vision"},
        {"id": "target-users", "name": "Target users"},
        {"id": "success-metrics", "name": "Success metrics"},
        {"id": "mvp-scope", "name": "MVP scope"},
        {"id": "complete-brief", "name": "Complete the product brief"}
    ]'::jsonb
);

-- Planning (PM agent).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'create-prd',
    'Create PRD',
    'The PM turns the product brief into a Product Requirements Document with goals, requirements and an epic breakdown.',
    '[
        {"id": "initialize-discovery", "name": "Initialize and discover project context"},
        {"id": "goals-and-background", "name": "Goals and background context"},
        {"id": "functional-requirements", "name": "Functional requirements"},
        {"id": "non-functional-requirements", "name": "Non-functional requirements"},
        {"id": "epic-list", "name": "Epic list"},
        {"id": "epic-details", "name": "Epic details and stories"},
        {"id": "checklist-validation", "name": "Validate against the PM checklist"},
        {"id": "finalize", "name": "Finalize the PRD and next steps"}
    ]'::jsonb
);

-- Solutioning (Architect agent).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'create-architecture',
    'Create Architecture',
    'The Architect turns the PRD into an architecture document of technical decisions, patterns and project structure that keeps AI agents consistent.',
    '[
        {"id": "initialize", "name": "Initialize and load input documents"},
        {"id": "project-context", "name": "Analyze project context"},
        {"id": "starter-template", "name": "Evaluate starter template"},
        {"id": "architectural-decisions", "name": "Core architectural decisions"},
        {"id": "implementation-patterns", "name": "Implementation patterns and consistency rules"},
        {"id": "project-structure", "name": "Project structure and boundaries"},
        {"id": "validation", "name": "Validate the architecture"},
        {"id": "complete", "name": "Complete and hand off"}
    ]'::jsonb
);

-- Solutioning (PM agent, with the SM).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'create-epics-and-stories',
    'Create Epics and Stories',
    'The PM breaks the PRD and architecture down into user-value epics and implementable stories with acceptance criteria.',
    '[
        {"id": "validate-prerequisites", "name": "Validate prerequisites and extract requirements"},
        {"id": "design-epics", "name": "Design epics"},
        {"id": "create-stories", "name": "Create stories with acceptance criteria"},
        {"id": "final-validation", "name": "Final validation of coverage"}
    ]'::jsonb
);

-- Implementation (SM agent).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'create-story',
    'Create Story',
    'The Scrum Master drafts the next story from the epics as a self-contained story file with everything the Dev agent needs.',
    '[
        {"id": "identify-next-story", "name": "Identify the next story"},
        {"id": "gather-requirements", "name": "Gather story requirements and previous story context"},
        {"id": "architecture-context", "name": "Extract architecture context and guardrails"},
        {"id": "technical-research", "name": "Research latest technical specifics"},
        {"id": "draft-story", "name": "Draft the story with tasks and dev notes"},
        {"id": "validate-and-finalize", "name": "Validate against the story checklist and mark ready for dev"}
    ]'::jsonb
);

-- Implementation (Dev agent).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'dev-story',
    'Develop Story',
    'The Dev agent implements a ready story task by task with tests until every acceptance criterion is met and the story is ready for review.',
    '[
        {"id": "load-story", "name": "Find and load the story"},
        {"id": "load-context", "name": "Load project context and review follow-ups"},
        {"id": "mark-in-progress", "name": "Mark the story in progress"},
        {"id": "implement-tasks", "name": "Implement tasks (red, green, refactor)"},
        {"id": "author-tests", "name": "Author tests"},
        {"id": "run-validations", "name": "Run validations and regression tests"},
        {"id": "story-dod", "name": "Check the story definition of done"},
        {"id": "mark-ready-for-review", "name": "Mark the story ready for review"}
    ]'::jsonb
);

-- Implementation (senior Dev / QA review).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'code-review',
    'Code Review',
    'A senior developer performs an adversarial review of an implemented story against its acceptance criteria, tasks and the actual code changes.',
    '[
        {"id": "load-story-and-changes", "name": "Load the story and discover code changes"},
        {"id": "build-review-plan", "name": "Build the review plan"},
        {"id": "execute-review", "name": "Execute the adversarial review"},
        {"id": "present-and-resolve", "name": "Present findings and resolve them"},
        {"id": "update-status", "name": "Update story status and sprint tracking"}
    ]'::jsonb
);

-- Implementation (SM agent, after an epic).
INSERT INTO workflow_definitions (id, name, description, steps) VALUES (
    'retrospective',
    'Retrospective',
    'The Scrum Master facilitates a review of a completed epic to capture lessons learned and prepare the next epic.',
    '[
        {"id": "epic-discovery", "name": "Identify the completed epic"},
        {"id": "story-analysis", "name": "Analyze the story records"},
        {"id": "previous-retrospective", "name": "Review the previous retrospective"},
        {"id": "next-epic-preview", "name": "Preview the next epic"},
        {"id": "epic-review-discussion", "name": "Discuss what went well and what did not"},
        {"id": "next-epic-preparation", "name": "Plan preparation for the next epic"},
        {"id": "action-items", "name": "Agree on action items"},
        {"id": "save-retrospective", "name": "Save the retrospective and update sprint status"}
    ]'::jsonb
);
