package event

import "fmt"

// Explain says, in a sentence or two each, why ev has its title and its
// grouping key: the rule that applied and what it took from the event. The
// issue page's Grouping tab shows it for the latest event.
func Explain(ev *Event) (titleWhy, keyWhy string) {
	switch ev.Rule {
	case RuleSyntheticMessage:
		titleWhy = fmt.Sprintf("The event carries a message (in its %s) and a synthetic exception: one the SDK made up to "+
			"carry the caller's stack, as captureMessage of the JavaScript SDKs does. It is a log message, so the title "+
			"is the message's first line (the template, when it has parameters) and the level (%s) shows beside it.",
			ev.MessageSource, ev.Level)
	case RuleLogMessage:
		if ev.MessageSource == "" {
			titleWhy = "The event has no exception and no message, so it is titled " + noLogMessage + "."
		} else {
			titleWhy = fmt.Sprintf("The event has no exception: it is a log message, titled by the first line of its %s "+
				"(the template, when it has parameters); the level (%s) shows beside it.", ev.MessageSource, ev.Level)
		}
	case RuleSynthetic:
		titleWhy = fmt.Sprintf("The event's exception is synthetic and carries no message: its type and value are "+
			"labels of the platform (a signal, a minidump's error code), so it is named after the function of its "+
			"crash frame, %s.", ev.SyntheticFunction)
		if ev.CalculatedType != ev.SyntheticFunction {
			titleWhy += " That name alone says nothing (minified or unknown), so the frame's module or file comes first;" +
				" when the project has an uploaded source map that maps the frame, the title is the mapped function instead" +
				" (the key stays the minified name)."
		}
	default:
		if ev.CalculatedType == typeUnknown {
			titleWhy = "The event has an exception, but no usable main exception (the last of the list), so its type is " + typeUnknown + "."
		} else {
			titleWhy = "The title is the main exception's type (the last of the list; Error when it has none) and the first line of its value."
		}
	}

	switch {
	case ev.GroupingMechanism == MechanismNone:
		keyWhy = "The event's own fingerprint is the key (its parts joined by ⋄); it does not depend on the title."
		return titleWhy, keyWhy
	case ev.Rule == RuleSyntheticMessage:
		keyWhy = fmt.Sprintf("The key is the message, with variable parts such as numbers, ids and addresses replaced, and "+
			"the function that sent it (%s). So two messages from one function are two issues, one message sent from two "+
			"functions is two issues, and one message sent again from the same function is one issue.", ev.SyntheticFunction)
		if ev.PreviousGroupingKey != "" {
			keyWhy += fmt.Sprintf(" Before this rule (%s) the key was %q, the function alone. In a project that has issues "+
				"from before the rule, for 30 days after its first event under it, the first message whose new key is unknown "+
				"goes on in the issue of that old key (its history says so).", MechanismMessage, ev.PreviousGroupingKey)
		}
	case ev.Rule == RuleSynthetic:
		keyWhy = "The key is the crash frame's function alone (" + MechanismV2 + "), so every such crash in one function is one issue."
	case ev.Rule == RuleLogMessage:
		keyWhy = "The key is the message (" + MechanismV2 + "), with variable parts such as numbers, ids and addresses " +
			"replaced, so messages that differ only in those are one issue."
	default:
		keyWhy = "The key is the title built from the exception's type and the first two lines of its value (" + MechanismV2 +
			"), with variable parts such as numbers, ids and addresses replaced. Stack frames and the transaction are not part of it."
	}
	if ev.fingerprinted {
		keyWhy += " The event's fingerprint puts that key in place of its {{ default }} part."
	}
	return titleWhy, keyWhy
}
