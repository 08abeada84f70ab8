-- Approval gates on the BMAD validation steps: advancing from such a step waits for one approver
-- (never the initiator) instead of completing it; the approval completes the step.
UPDATE workflow_definitions
SET steps = (
    SELECT jsonb_agg(CASE WHEN s.step->>'id' = 'checklist-validation'
        THEN s.step || '{"approval": {"count": 1, "prompt": "Approve the PRD: it passed the PM checklist and is ready for architecture.", "onReject": "Rework"}}'::jsonb
        ELSE s.step END ORDER BY s.ord)
    FROM jsonb_array_elements(steps) WITH ORDINALITY AS s(step, ord))
WHERE id = 'create-prd';

UPDATE workflow_definitions
SET steps = (
    SELECT jsonb_agg(CASE WHEN s.step->>'id' = 'validation'
        THEN s.step || '{"approval": {"count": 1, "prompt": "Approve the architecture: it is validated against the PRD and ready for epics and stories.", "onReject": "Rework"}}'::jsonb
        ELSE s.step END ORDER BY s.ord)
    FROM jsonb_array_elements(steps) WITH ORDINALITY AS s(step, ord))
WHERE id = 'create-architecture';
