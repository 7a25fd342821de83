// Grafana's dashboard JSON spells its string enums (a threshold's mode, a field colour's
// mode) as their values, but @grafana/schema declares them as TypeScript enums, which a
// string literal cannot satisfy. The test writes those fields as calls of these helpers:
// each accepts exactly the enum's values (`${Enum}`), so an unknown mode still fails.
import { FieldColorModeId, ThresholdsMode } from '@grafana/schema';

export const thresholdsMode = (v: `${ThresholdsMode}`): ThresholdsMode => v as ThresholdsMode;
export const fieldColorMode = (v: `${FieldColorModeId}`): FieldColorModeId => v as FieldColorModeId;
