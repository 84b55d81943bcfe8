"""The cohort: a validated manifest of images, masks, outcomes and clinical variables.

A manifest row is one *case*: (patient, modality, time point, image, mask, label). The key that
must be unique is ``(patient_id, modality, timepoint, label)``. Outcomes (``time``, ``event``,
``response``), ``treatment``, ``batch`` and every other (clinical) column are patient-level: they
may repeat on a patient's rows but must agree, or come from a separate patient table.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd

from radiopredict.errors import (
    EmptyMaskError,
    GeometryMismatchError,
    ImageReadError,
    InputFileNotFoundError,
    LabelNotFoundError,
    ManifestError,
    RadiopredictError,
    TargetError,
)
from radiopredict.targets import check_binary_target, make_survival_target

__all__ = ["Case", "Cohort", "CASE_COLUMNS", "OUTCOME_COLUMNS", "PROBLEM_COLUMNS"]

#: Columns that describe one case (one row of the manifest).
CASE_COLUMNS = ("patient_id", "modality", "timepoint", "image", "mask", "label")
#: Patient-level columns with a fixed meaning; every other column is clinical.
OUTCOME_COLUMNS = ("time", "event", "response", "treatment", "batch")
#: Columns of the table returned by :meth:`Cohort.validate`.
PROBLEM_COLUMNS = ["patient_id", "column", "problem", "fix"]

DEFAULT_MODALITY = "default"
DEFAULT_TIMEPOINT = "baseline"


@dataclass(frozen=True)
class Case:
    """One image (and its mask and label) of one patient.

    Attributes
    ----------
    patient_id
        Patient identifier.
    image
        Absolute path of the image (file or DICOM series folder).
    mask
        Absolute path of the mask, or None when the case has no mask yet (to be segmented).
    label
        Label value (int) or name (str: label name, DICOM-SEG segment label, RTSTRUCT ROI name);
        None means every non-zero voxel of the mask.
    modality
        Image modality or sequence (``"CT"``, ``"PET"``, ``"T2"``...); ``"default"`` when absent.
    timepoint
        Time point (``"baseline"``, ``"week6"``...); ``"baseline"`` when absent.
    """

    patient_id: str
    image: Path
    mask: Path | None
    label: int | str | None = None
    modality: str = DEFAULT_MODALITY
    timepoint: str = DEFAULT_TIMEPOINT

    @property
    def key(self) -> tuple[str, str, str, int | str | None]:
        """The unique key ``(patient_id, modality, timepoint, label)``."""
        return (self.patient_id, self.modality, self.timepoint, self.label)

    @property
    def label_name(self) -> str:
        """The label as a string, ``"all"`` when the whole mask is used."""
        return "all" if self.label is None else str(self.label)


def _parse_label(value: Any) -> int | str | None:
    if value is None or (isinstance(value, float) and np.isnan(value)) or value is pd.NA:
        return None
    if isinstance(value, (int, np.integer)):
        return int(value)
    if isinstance(value, (float, np.floating)):
        return int(value) if float(value).is_integer() else str(value)
    text = str(value).strip()
    if text == "":
        return None
    try:
        return int(text)
    except ValueError:
        try:
            as_float = float(text)
        except ValueError:
            return text
        return int(as_float) if as_float.is_integer() else text


def _relative_to(path: Path, base: Path) -> str:
    """``path`` relative to ``base`` in POSIX form (absolute when no relative path exists)."""
    try:
        return Path(os.path.relpath(path, base)).as_posix()
    except ValueError:  # another drive on Windows
        return str(path)


def _id_text(value: Any) -> str | None:
    """A patient id as text: ``'0001'`` stays ``'0001'``; a number a table reader made of an id
    (``7.0`` in a float column) becomes ``'7'``."""
    if _is_missing(value):
        return None
    if isinstance(value, (float, np.floating)) and float(value).is_integer():
        return str(int(value))
    return str(value).strip()


def _is_missing(value: Any) -> bool:
    if value is None or value is pd.NA:
        return True
    if isinstance(value, float) and np.isnan(value):
        return True
    return isinstance(value, str) and value.strip() == ""


class Cohort:
    """A cohort manifest: one row per case, patient-level outcomes and clinical variables.

    Build it with :meth:`read` (CSV or Parquet file; paths relative to the file's folder) or
    :meth:`from_dataframe`. Construction checks only the structure (required columns); call
    :meth:`validate` to check files, geometry, masks and outcomes, which returns every problem
    at once.

    Parameters
    ----------
    table
        Manifest with at least ``patient_id`` and ``image`` columns.
    root
        Folder that relative paths in ``image`` and ``mask`` are relative to.
    patients
        Optional patient-level table (one row per ``patient_id``) with outcomes, treatment,
        batch and clinical columns; merged onto the manifest.
    source
        Where the manifest came from (used in messages).

    Examples
    --------
    >>> cohort = Cohort.read("manifest.csv")                          # doctest: +SKIP
    >>> problems = cohort.validate()                                  # doctest: +SKIP
    >>> y = cohort.survival_target()                                  # doctest: +SKIP
    """

    def __init__(
        self,
        table: pd.DataFrame,
        *,
        root: str | os.PathLike[str] = ".",
        patients: pd.DataFrame | None = None,
        source: str | None = None,
    ) -> None:
        if not isinstance(table, pd.DataFrame):
            raise ManifestError(
                f"a manifest must be a pandas DataFrame, got {type(table).__name__}",
                path=source,
                fix="use Cohort.read(path) for a file or pass a DataFrame",
            )
        self.root = Path(root).resolve()
        self.source = source
        df = table.copy()
        df.columns = [str(c).strip().lstrip("\ufeff").strip() for c in df.columns]
        missing = [c for c in ("patient_id", "image") if c not in df.columns]
        if missing and len(df.columns) == 1 and any(sep in df.columns[0] for sep in ";\t|"):
            raise ManifestError(
                f"the manifest has one column {df.columns[0]!r}: its values are separated by "
                "another character than a comma",
                path=source,
                fix="save it as comma-separated CSV (or name it .tsv when tab-separated)",
            )
        if missing:
            problems = pd.DataFrame(
                [
                    {
                        "patient_id": None,
                        "column": c,
                        "problem": f"required column {c!r} is missing",
                        "fix": f"add a {c!r} column (columns found: {list(df.columns)})",
                    }
                    for c in missing
                ],
                columns=PROBLEM_COLUMNS,
            )
            raise ManifestError(
                f"manifest lacks required column(s) {missing}; found {list(df.columns)}",
                path=source,
                problems=problems,
                fix="name the columns patient_id, image, mask (optional: label, modality, "
                "timepoint, time, event, response, treatment, batch)",
            )
        if len(df) == 0:
            raise ManifestError(
                "the manifest has no rows (no case to process)",
                path=source,
                fix="add one row per (patient, image, mask, label); check that the file is the "
                "finished manifest, not only its header",
            )
        if patients is not None:
            df = self._merge_patient_table(df, patients, source)
        if "mask" not in df.columns:
            df["mask"] = None
        if "label" not in df.columns:
            df["label"] = None
        if "modality" not in df.columns:
            df["modality"] = DEFAULT_MODALITY
        if "timepoint" not in df.columns:
            df["timepoint"] = DEFAULT_TIMEPOINT
        df["patient_id"] = [_id_text(v) for v in df["patient_id"]]
        df["modality"] = [
            DEFAULT_MODALITY if _is_missing(v) else str(v).strip() for v in df["modality"]
        ]
        df["timepoint"] = [
            DEFAULT_TIMEPOINT if _is_missing(v) else str(v).strip() for v in df["timepoint"]
        ]
        df["label"] = pd.Series(
            [_parse_label(v) for v in df["label"]], index=df.index, dtype=object
        )
        for col in ("image", "mask"):
            df[col] = pd.Series(
                [None if _is_missing(v) else str(self._resolve(v)) for v in df[col]],
                index=df.index,
                dtype=object,
            )
        ordered = list(CASE_COLUMNS) + [c for c in df.columns if c not in CASE_COLUMNS]
        self._table = df[ordered].reset_index(drop=True)

    # ------------------------------------------------------------------ construction
    @classmethod
    def read(
        cls, path: str | os.PathLike[str], *, patients: str | os.PathLike[str] | None = None
    ) -> Cohort:
        """Read a manifest from a CSV or Parquet file.

        Parameters
        ----------
        path
            ``.csv``, ``.tsv``, ``.parquet`` or ``.pq`` file. Relative image and mask paths are
            resolved against the file's folder.
        patients
            Optional patient-level table file (CSV or Parquet) merged on ``patient_id``.
        """
        path = Path(path)
        table = _read_table(path)
        patient_table = _read_table(Path(patients)) if patients is not None else None
        return cls(table, root=path.resolve().parent, patients=patient_table, source=str(path))

    @classmethod
    def from_dataframe(
        cls,
        table: pd.DataFrame,
        root: str | os.PathLike[str] = ".",
        *,
        patients: pd.DataFrame | None = None,
    ) -> Cohort:
        """Build a cohort from a DataFrame; relative paths are resolved against ``root``."""
        return cls(table, root=root, patients=patients)

    def _resolve(self, value: Any) -> Path:
        p = Path(str(value).strip()).expanduser()
        return p if p.is_absolute() else (self.root / p)

    @staticmethod
    def _merge_patient_table(
        df: pd.DataFrame, patients: pd.DataFrame, source: str | None
    ) -> pd.DataFrame:
        if "patient_id" not in patients.columns:
            raise ManifestError(
                "the patient table lacks a 'patient_id' column",
                path=source,
                fix="add a patient_id column to the patient table",
            )
        pt = patients.copy()
        pt["patient_id"] = [_id_text(v) for v in pt["patient_id"]]
        dup = pt["patient_id"][pt["patient_id"].duplicated()].unique().tolist()
        if dup:
            raise ManifestError(
                f"the patient table has several rows for patient(s) {dup[:10]}",
                path=source,
                fix="keep one row per patient in the patient table",
            )
        clash = [c for c in pt.columns if c != "patient_id" and c in df.columns]
        if clash:
            raise ManifestError(
                f"column(s) {clash} appear in both the manifest and the patient table",
                path=source,
                fix="keep each patient-level column in one of the two tables",
            )
        out = df.copy()
        out["patient_id"] = [_id_text(v) for v in out["patient_id"]]
        return out.merge(pt, on="patient_id", how="left")

    # ------------------------------------------------------------------ basic access
    @property
    def table(self) -> pd.DataFrame:
        """The normalised manifest (absolute paths), a copy."""
        return self._table.copy()

    def to_dataframe(self) -> pd.DataFrame:
        """The normalised manifest (absolute paths), a copy."""
        return self.table

    def write(self, path: str | os.PathLike[str]) -> Path:
        """Write the manifest as CSV (or Parquet for ``.parquet``/``.pq``).

        Image and mask paths are written relative to the folder of ``path`` (the rule for every
        manifest the project writes), so the folder can be moved as a whole; a path on another
        drive stays absolute.

        Returns
        -------
        pathlib.Path
            The file written.
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        base = path.resolve().parent
        table = self.table
        for col in ("image", "mask"):
            table[col] = [None if v is None else _relative_to(Path(v), base) for v in table[col]]
        if path.suffix.lower() in (".parquet", ".pq"):
            table.to_parquet(path, index=False)
        else:
            table.to_csv(path, index=False, lineterminator="\n")
        return path

    def __len__(self) -> int:
        return len(self._table)

    def __iter__(self) -> Iterator[Case]:
        return iter(self.cases())

    def __repr__(self) -> str:
        return (
            f"Cohort({len(self.patient_ids)} patients, {len(self)} cases, root={str(self.root)!r})"
        )

    def cases(self) -> list[Case]:
        """The cases (manifest rows) as :class:`Case` objects, in manifest order."""
        out = []
        for row in self._table.itertuples(index=False):
            out.append(
                Case(
                    patient_id=row.patient_id,
                    image=Path(row.image) if row.image is not None else Path(""),
                    mask=Path(row.mask) if row.mask is not None else None,
                    label=row.label,
                    modality=row.modality,
                    timepoint=row.timepoint,
                )
            )
        return out

    @property
    def patient_ids(self) -> list[str]:
        """Unique patient identifiers in manifest order."""
        ids = [p for p in self._table["patient_id"] if p is not None]
        return list(dict.fromkeys(ids))

    @property
    def patient_columns(self) -> list[str]:
        """Patient-level columns: outcomes, treatment, batch and clinical columns."""
        return [c for c in self._table.columns if c not in CASE_COLUMNS]

    @property
    def clinical_columns(self) -> list[str]:
        """Clinical columns: every column that is neither a case nor an outcome column."""
        return [c for c in self.patient_columns if c not in OUTCOME_COLUMNS]

    @property
    def patients(self) -> pd.DataFrame:
        """Patient-level table indexed by ``patient_id`` (first non-missing value per patient).

        Use :meth:`validate` to detect patients whose rows disagree.
        """
        cols = self.patient_columns
        df = self._table[self._table["patient_id"].notna()]
        if not cols:
            return pd.DataFrame(index=pd.Index(self.patient_ids, name="patient_id"))
        out = df.groupby("patient_id", sort=False)[cols].first()
        return out.reindex(self.patient_ids)

    def _require(self, column: str, what: str) -> pd.Series:
        if column not in self._table.columns:
            raise ManifestError(
                f"the manifest has no {column!r} column, needed for {what}",
                path=self.source,
                fix=f"add a {column!r} column to the manifest or the patient table",
            )
        return self.patients[column]

    def survival_target(self) -> np.ndarray:
        """Survival target (structured array ``event`` bool, ``time`` float) in
        :attr:`patient_ids` order."""
        event = self._require("event", "a survival target")
        time = self._require("time", "a survival target")
        try:
            return make_survival_target(event.to_numpy(), time.to_numpy(), ids=self.patient_ids)
        except TargetError as exc:
            raise TargetError(exc.problem, path=self.source, fix=exc.fix) from None

    def binary_target(self) -> np.ndarray:
        """Binary response (0/1 int array) in :attr:`patient_ids` order."""
        response = self._require("response", "a binary target")
        try:
            return check_binary_target(response.to_numpy())
        except TargetError as exc:
            raise TargetError(exc.problem, path=self.source, fix=exc.fix) from None

    def clinical(self) -> pd.DataFrame:
        """Clinical variables (every non-reserved column), indexed by ``patient_id``."""
        return self.patients[self.clinical_columns].copy()

    def treatment(self) -> pd.Series:
        """Treatment arm per patient."""
        return self._require("treatment", "treatment-benefit estimation").copy()

    def batch(self) -> pd.Series:
        """Batch (site or scanner) per patient."""
        return self._require("batch", "harmonisation").copy()

    # ------------------------------------------------------------------ derived cohorts
    def subset(self, patient_ids: Iterable[str]) -> Cohort:
        """A cohort with only the given patients (manifest order kept)."""
        wanted = {str(p) for p in patient_ids}
        unknown = sorted(wanted - set(self.patient_ids))
        if unknown:
            raise ManifestError(
                f"unknown patient(s) {unknown[:10]}",
                path=self.source,
                fix="choose patient ids from cohort.patient_ids",
            )
        new = object.__new__(Cohort)
        new.root, new.source = self.root, self.source
        new._table = self._table[self._table["patient_id"].isin(wanted)].reset_index(drop=True)
        return new

    def with_masks(self, mapping: Mapping[Any, str | os.PathLike[str]]) -> Cohort:
        """A cohort whose masks are replaced (for example by predicted segmentations).

        Parameters
        ----------
        mapping
            From a case key ``(patient_id, modality, timepoint, label)`` or a plain
            ``patient_id`` to the new mask path (absolute, or relative to the cohort root).
        """
        new = object.__new__(Cohort)
        new.root, new.source = self.root, self.source
        table = self._table.copy()
        used = set()
        for i, case in enumerate(self.cases()):
            for k in (case.key, case.patient_id):
                if k in mapping:
                    table.at[i, "mask"] = str(self._resolve(mapping[k]))
                    used.add(k)
                    break
        unknown = [k for k in mapping if k not in used]
        if unknown:
            raise ManifestError(
                f"mask mapping names case(s) that are not in the cohort: {unknown[:5]}",
                path=self.source,
                fix="use case keys (patient_id, modality, timepoint, label) or patient ids",
            )
        new._table = table
        return new

    # ------------------------------------------------------------------ validation
    def validate(self, *, check_files: bool = True, progress: bool = False) -> pd.DataFrame:
        """Check the whole manifest and return every problem at once.

        Checks: missing patient ids, duplicate case keys, patient-level columns that disagree
        between a patient's rows, missing or unreadable image and mask files, image/mask
        geometry mismatch, empty masks or absent labels, missing / negative / non-numeric
        times, events not coded 0/1, a non-binary or single-class response, a constant
        treatment, missing batch values, text values in an otherwise numeric clinical column.
        Reading checks each file for completeness (truncated or corrupt files), NaN voxels, a
        mask that is an image (image and mask swapped) and the DICOM Frame of Reference.

        Parameters
        ----------
        check_files
            Read every image and mask (slower; set False to check the table only).
        progress
            Show a progress bar while reading files.

        Returns
        -------
        pandas.DataFrame
            Columns ``patient_id``, ``column``, ``problem``, ``fix``; empty when all is well.
        """
        problems: list[dict[str, Any]] = []

        def add(pid, column, problem, fix):
            problems.append({"patient_id": pid, "column": column, "problem": problem, "fix": fix})

        t = self._table
        for i in np.flatnonzero(t["patient_id"].isna().to_numpy()):
            add(None, "patient_id", f"row {i + 2} has no patient_id", "fill in the patient id")
        for i in np.flatnonzero(t["image"].isna().to_numpy()):
            add(
                t.at[i, "patient_id"],
                "image",
                f"row {i + 2} has no image path",
                "fill in the image path",
            )

        keys = list(zip(t["patient_id"], t["modality"], t["timepoint"], t["label"], strict=True))
        seen: dict[tuple, int] = {}
        for i, k in enumerate(keys):
            if k[0] is None:
                continue
            if k in seen:
                add(
                    k[0],
                    "patient_id",
                    f"duplicate case (patient_id, modality, timepoint, label) = {k} "
                    f"in rows {seen[k] + 2} and {i + 2}",
                    "give each image its own modality / timepoint, or each mask row its own label",
                )
            else:
                seen[k] = i

        self._check_patient_level(add)
        self._check_outcomes(add)
        self._check_clinical(add)
        if check_files:
            self._check_files(add, progress=progress)
        return pd.DataFrame(problems, columns=PROBLEM_COLUMNS)

    def check(self, **kwargs: Any) -> Cohort:
        """Run :meth:`validate` and raise :class:`ManifestError` with the table if any problem."""
        problems = self.validate(**kwargs)
        if len(problems):
            lines = "\n".join(
                f"  - patient {r.patient_id}, column {r.column}: {r.problem} (fix: {r.fix})"
                for r in problems.itertuples()
            )
            raise ManifestError(
                f"the manifest has {len(problems)} problem(s):\n{lines}",
                path=self.source,
                problems=problems,
                fix="correct the manifest; the full table is in the exception's .problems",
            )
        return self

    def _check_patient_level(self, add) -> None:
        t = self._table[self._table["patient_id"].notna()]
        for col in self.patient_columns:
            nunique = t.groupby("patient_id", sort=False)[col].nunique(dropna=True)
            for pid in nunique.index[nunique > 1]:
                values = t.loc[t["patient_id"] == pid, col].dropna().unique().tolist()
                add(
                    pid,
                    col,
                    f"patient-level column {col!r} differs between the patient's rows: {values[:5]}",
                    "give every row of a patient the same value, or move it to a patient table",
                )

    def _check_clinical(self, add) -> None:
        """A clinical column that is numeric but for a few values (``age = unknown``) would
        become one indicator per distinct value: report each offending value and patient."""
        pts = self.patients
        for col in self.clinical_columns:
            raw = pts[col]
            present = raw[[not _is_missing(v) for v in raw]]
            if not len(present) or pd.api.types.is_numeric_dtype(present):
                continue
            num = pd.to_numeric(present, errors="coerce")
            bad = present[num.isna()]
            n_num = int(num.notna().sum())
            if not len(bad) or n_num < max(2, len(bad) + 1):
                continue  # a text column (or mostly text): categories, nothing to report
            for pid, value in bad.items():
                add(
                    pid,
                    col,
                    f"clinical column {col!r} is numeric ({n_num} of {len(present)} values) but "
                    f"this patient's value {value!r} is not a number; the column would be "
                    "treated as categories",
                    "write a number, or leave the cell empty for a missing value",
                )

    def _check_outcomes(self, add) -> None:
        pts = self.patients
        cols = set(pts.columns)
        if "event" in cols and "time" not in cols:
            add(
                None, "time", "an 'event' column exists but no 'time' column", "add follow-up times"
            )
        if "time" in cols:
            raw = pts["time"]
            num = pd.to_numeric(raw, errors="coerce")
            for pid, r, v in zip(pts.index, raw, num, strict=True):
                if _is_missing(r):
                    add(
                        pid,
                        "time",
                        "missing follow-up time",
                        "fill in time to event or last follow-up",
                    )
                elif np.isnan(v):
                    add(
                        pid,
                        "time",
                        f"time {r!r} is not a number",
                        "write times as numbers (e.g. months)",
                    )
                elif v < 0:
                    add(
                        pid,
                        "time",
                        f"negative time {v}",
                        "times count from baseline and must be >= 0",
                    )
            if "event" not in cols:
                add(
                    None,
                    "event",
                    "a 'time' column exists but no 'event' column",
                    "add event indicators (1 = event, 0 = censored)",
                )
        if "event" in cols:
            for pid, r in zip(pts.index, pts["event"], strict=True):
                if _is_missing(r):
                    add(
                        pid,
                        "event",
                        "missing event indicator",
                        "code 1 = event observed, 0 = censored",
                    )
                elif pd.to_numeric(pd.Series([r]), errors="coerce").iloc[0] not in (0, 1):
                    add(
                        pid,
                        "event",
                        f"event {r!r} is not 0/1",
                        "code 1 = event observed, 0 = censored",
                    )
        if "response" in cols:
            num = pd.to_numeric(pts["response"], errors="coerce")
            for pid, r, v in zip(pts.index, pts["response"], num, strict=True):
                if _is_missing(r):
                    add(
                        pid, "response", "missing response", "code 1 = responder, 0 = non-responder"
                    )
                elif v not in (0, 1):
                    add(
                        pid,
                        "response",
                        f"response {r!r} is not binary 0/1",
                        "code 1 = responder, 0 = non-responder",
                    )
            if num.isin([0, 1]).all() and num.nunique() == 1:
                add(
                    None,
                    "response",
                    f"every patient has response {int(num.iloc[0])}",
                    "a response model needs both classes",
                )
        if "treatment" in cols:
            trt = pts["treatment"]
            for pid in trt.index[trt.isna()]:
                add(
                    pid,
                    "treatment",
                    "missing treatment arm",
                    "fill in the arm the patient received",
                )
            if trt.dropna().nunique() == 1 and len(trt.dropna()) > 0:
                add(
                    None,
                    "treatment",
                    f"every patient has treatment {trt.dropna().iloc[0]!r}",
                    "treatment benefit needs at least two arms; drop the column otherwise",
                )
        if "batch" in cols:
            for pid in pts.index[pts["batch"].isna()]:
                add(
                    pid,
                    "batch",
                    "missing batch (site or scanner)",
                    "fill in the batch, or 'unknown' as its own batch",
                )

    def _check_files(self, add, *, progress: bool) -> None:
        from radiopredict.imaging import read_image, read_mask

        cases = [
            c for c in self.cases() if c.patient_id is not None and str(c.image) not in ("", ".")
        ]
        images: dict[str, Any] = {}
        iterator: Iterable[Case] = cases
        if progress:
            from rich.progress import track

            iterator = track(cases, description="validating cases")
        for case in iterator:
            pid = case.patient_id
            key = str(case.image)
            if key not in images:
                images[key] = _try_read(lambda p=case.image: read_image(p))
            image = images[key]
            if isinstance(image, Exception):
                add(pid, "image", _describe(image, case.image), _fix_for(image, "image"))
                image = None
            if case.mask is None:
                continue
            if not case.mask.exists():
                add(
                    pid,
                    "mask",
                    f"mask file {str(case.mask)!r} does not exist",
                    "correct the path (relative paths start at the manifest's folder)",
                )
                continue
            try:
                mask = read_mask(case.mask, reference=image, label=case.label)
            except GeometryMismatchError as exc:
                frame = "Frame of Reference" in exc.problem  # another scan: resampling is wrong
                add(
                    pid,
                    "mask",
                    f"image/mask geometry mismatch: {exc.problem}",
                    exc.fix
                    if frame and exc.fix
                    else "resample the mask onto the image, or pass on_mismatch='resample' "
                    "when reading",
                )
                continue
            except LabelNotFoundError as exc:
                add(
                    pid,
                    "label",
                    f"label {case.label!r} absent from mask {case.mask.name}: {exc.problem}",
                    exc.fix or "use a label present in the mask",
                )
                continue
            except RadiopredictError as exc:
                add(pid, "mask", _describe(exc, case.mask), _fix_for(exc, "mask"))
                continue
            except Exception as exc:  # a library error from a broken file
                add(
                    pid,
                    "mask",
                    f"cannot read mask {str(case.mask)!r}: {exc}",
                    "check that the file is a valid image or DICOM object",
                )
                continue
            arr = _mask_array(mask)
            if not arr.any():
                what = (
                    "mask is empty" if case.label is None else f"label {case.label!r} has no voxel"
                )
                add(
                    pid,
                    "mask" if case.label is None else "label",
                    f"{what} in {case.mask.name}",
                    "check the segmentation or the label value",
                )


def _mask_array(mask: Any) -> np.ndarray:
    import SimpleITK as sitk

    return sitk.GetArrayViewFromImage(mask) != 0


def _try_read(func):
    try:
        return func()
    except Exception as exc:  # recorded in the problems table
        return exc


def _describe(exc: Exception, path: Path) -> str:
    if isinstance(exc, (InputFileNotFoundError, FileNotFoundError)):
        return f"file {str(path)!r} does not exist"
    if isinstance(exc, RadiopredictError):
        return exc.problem
    return f"cannot read {str(path)!r}: {exc}"


def _fix_for(exc: Exception, what: str) -> str:
    if isinstance(exc, (InputFileNotFoundError, FileNotFoundError)):
        return "correct the path (relative paths start at the manifest's folder)"
    if isinstance(exc, RadiopredictError) and exc.fix:
        return exc.fix
    if isinstance(exc, (ImageReadError, EmptyMaskError)):
        return f"check that the {what} file is a valid NIfTI, NRRD, MHA or DICOM file"
    return f"check that the {what} file is a valid NIfTI, NRRD, MHA or DICOM file"


def _read_table(path: Path) -> pd.DataFrame:
    if not path.exists():
        raise InputFileNotFoundError(
            "manifest file does not exist", path=path, fix="check the path of the manifest"
        )
    if path.is_dir():
        raise ManifestError(
            "the manifest path is a folder",
            path=path,
            fix="pass the manifest file itself (a .csv, .tsv or .parquet file in that folder)",
        )
    suffix = "".join(path.suffixes[-2:]).lower() if path.suffix == ".gz" else path.suffix.lower()
    try:
        if suffix in (".parquet", ".pq"):
            return pd.read_parquet(path)
        if suffix in (".tsv", ".tsv.gz", ".csv", ".csv.gz"):
            sep = "\t" if suffix.startswith(".tsv") else ","
            # identifiers are text: '0001' must not become 1 (and collide with '01')
            header = pd.read_csv(path, sep=sep, nrows=0).columns
            ids = {
                c: str for c in header if str(c).strip().lstrip("\ufeff").strip() == "patient_id"
            }
            return pd.read_csv(path, sep=sep, dtype=ids)
    except pd.errors.EmptyDataError as exc:
        raise ManifestError(
            "the manifest file is empty (not even a header row)",
            path=path,
            fix="write a header row (patient_id,image,mask,...) and one row per case",
        ) from exc
    except Exception as exc:
        raise ManifestError(
            f"cannot parse the manifest ({exc})",
            path=path,
            fix="save it as a valid CSV or Parquet file",
        ) from exc
    raise ManifestError(
        f"unsupported manifest format {suffix!r}",
        path=path,
        fix="use a .csv, .tsv or .parquet file",
    )
