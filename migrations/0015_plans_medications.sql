-- 0015 Treatment plans and medications: the rules 0005 leaves to the clinic's judgement, made
-- the database's.
--
--   * A patient has one treatment plan at a time: a new plan while one is current is a revision
--     of it, not a second plan.
--   * Each problem of a plan is one of the patient's active diagnoses (by ICD-10 code).
--   * A changed or discontinued medication is history: it changes no more, and a change's new
--     row belongs to the same patient as the row it replaces.

create unique index treatment_plans_one_current_per_patient
    on treatment_plans (org_id, patient_id) where is_current;

-- Runs as the caller: the diagnoses are read under the caller's own row-level security (the
-- providers who write plans read diagnoses), so it tells nothing about another practice.
create function app.check_treatment_plan_diagnoses() returns trigger
language plpgsql
as $$
declare
    problem record;
begin
    -- Only providers write plans, and only their own practice's (the insert and update
    -- policies refuse anyone else): for anyone else the refusal is left to those policies,
    -- which answer it as what it is.
    if current_setting('role') = 'authenticated'
       and (new.org_id is distinct from app.org_id() or not app.caller_is('provider')) then
        return new;
    end if;
    for problem in
        select p.ordinality - 1 as index, p.value ->> 'icd10_code' as code
          from jsonb_array_elements(new.content -> 'problems') with ordinality p
    loop
        if problem.code is null or not exists (
            select 1 from public.patient_diagnoses d
             where d.org_id = new.org_id and d.patient_id = new.patient_id
               and d.icd10_code = problem.code and d.status = 'active') then
            raise exception 'problems[%].icd10_code: % is not an active diagnosis of this patient; add the diagnosis first',
                    problem.index, coalesce(problem.code, 'a missing code')
                using errcode = 'check_violation', constraint = 'treatment_plans_problem_diagnosis_check',
                      table = 'treatment_plans', column = 'content';
        end if;
    end loop;
    return new;
end
$$;
create trigger treatment_plans_problem_diagnoses before insert or update of content on treatment_plans
    for each row execute function app.check_treatment_plan_diagnoses();

-- A change's new row continues the same patient's medication.
alter table medications
    add constraint medications_patient_key unique (org_id, id, patient_id),
    add constraint medications_previous_patient_fkey
        foreign key (org_id, previous_medication_id, patient_id) references medications (org_id, id, patient_id);

-- Changed and discontinued rows are the medication history: nothing about them changes again.
-- (A status move out of them is left to medications_status_transition, which names it.)
create function app.guard_medication_history() returns trigger
language plpgsql
as $$
begin
    if (new.id, new.org_id, new.patient_id, new.previous_medication_id, new.created_at)
       is distinct from (old.id, old.org_id, old.patient_id, old.previous_medication_id, old.created_at) then
        raise exception 'a medication''s patient and history links cannot change'
            using errcode = 'check_violation', constraint = 'medications_identity_immutable',
                  table = 'medications';
    end if;
    if old.status <> 'active' and new.status = old.status then
        raise exception 'medication % is %: it is history and cannot change', old.id, old.status
            using errcode = 'check_violation', constraint = 'medications_history_immutable',
                  table = 'medications';
    end if;
    return new;
end
$$;
create trigger medications_history_guard before update on medications
    for each row execute function app.guard_medication_history();
