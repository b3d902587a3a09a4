#!/usr/bin/python
"""Ansible module: report one outcome for every volunteer of the batch on one service."""

from __future__ import annotations

DOCUMENTATION = r"""
module: volunteer_outcome
short_description: Report the same outcome for every volunteer on a service
description:
  - Used where a whole service is left out, for example one the inventory does not
    offer, so the worker can show it as such rather than as missing. Changes nothing.
options:
  service: {description: the service's name, type: str, required: true}
  status: {description: the outcome, type: str, required: true}
  message: {description: words for people, type: str}
  volunteers: {description: the batch, type: list, elements: dict, required: true}
"""

from ansible.module_utils.basic import AnsibleModule


def main() -> None:
    module = AnsibleModule(argument_spec={
        "service": {"type": "str", "required": True},
        "status": {"type": "str", "required": True},
        "message": {"type": "str"},
        "volunteers": {"type": "list", "elements": "dict", "required": True},
    }, supports_check_mode=True)
    params = module.params
    outcome = {"status": params["status"], "message": params["message"]}
    module.exit_json(changed=False, service=params["service"],
                     volunteers={volunteer["uid"]: outcome for volunteer in params["volunteers"]})


if __name__ == "__main__":
    main()
