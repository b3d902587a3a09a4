# Run by the redmine_server role inside Redmine (`rails runner`): make sure every
# working group has its project, creating only what is missing, and print one JSON
# line {"changed": [what was (or, checking only, would be) done]}. The projects come
# as JSON in REDMINE_PROJECTS ([{"identifier", "name", "description"}]);
# REDMINE_PROJECTS_PUBLIC is "true" or "false"; REDMINE_CHECK_ONLY=true saves nothing.
require "json"

check_only = ENV.fetch("REDMINE_CHECK_ONLY") == "true"
public = ENV.fetch("REDMINE_PROJECTS_PUBLIC") == "true"
changed = []

JSON.parse(ENV.fetch("REDMINE_PROJECTS")).each do |wanted|
  # An existing project is left as it is: its members and settings are the group's own.
  next if Project.exists?(identifier: wanted["identifier"])

  unless check_only
    project = Project.new(name: wanted["name"], identifier: wanted["identifier"],
                          description: wanted["description"], is_public: public)
    abort "project #{wanted['identifier']}: #{project.errors.full_messages.join(', ')}" unless project.save
  end
  changed << "project #{wanted['identifier']} created"
end

puts JSON.generate(changed: changed)
