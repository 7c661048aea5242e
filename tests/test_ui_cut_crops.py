"""Cut crops page: a box typed by coordinates becomes a crop linked to its plate; removing is a soft
delete; an uploaded image becomes a plate. (Mouse drawing is covered by the browser test.)"""

import cv2
import numpy as np
from ui_support import app, no_exception, tiny_workspace

from defectlab.store import current_labels, items_frame


def _crops(ws, project):
    frame = items_frame(ws, project.id)
    return frame[frame["parent_id"].notna()]


def test_cut_crops_empty_workspace_and_no_plate(tmp_path):
    no_exception(app(tmp_path / "empty", "cut_crops"))
    ws, _project, _ids = tiny_workspace(tmp_path / "ws", n_items=2)
    at = app(ws.root, "cut_crops")
    no_exception(at)
    assert at.info


def test_box_by_coordinates_becomes_a_linked_crop(tmp_path):
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=2, plate=True)
    plate = items_frame(ws, project.id, role="plate").iloc[0]
    at = app(ws.root, "cut_crops")
    no_exception(at)
    at.number_input(key="crop_x0").set_value(10)
    at.number_input(key="crop_y0").set_value(20)
    at.number_input(key="crop_x1").set_value(60)
    at.number_input(key="crop_y1").set_value(50)
    at.selectbox(key="crop_num_class").set_value("pit")
    next(b for b in at.button if b.label == "Add box").click()
    at.run()
    no_exception(at)
    crops = _crops(ws, project)
    assert len(crops) == 1
    crop = crops.iloc[0]
    assert int(crop["parent_id"]) == int(plate["id"]) and list(crop["box"]) == [10, 20, 60, 50]
    assert (crop["width"], crop["height"]) == (50, 30)
    assert crop["source"] == "plates/plate_1.png#0"
    assert current_labels(ws, project.id)[int(crop["id"])].label == "pit"

    # an unlabeled box elsewhere, then remove the first crop (soft delete)
    at.number_input(key="crop_x0").set_value(100)
    at.number_input(key="crop_x1").set_value(140)
    at.selectbox(key="crop_num_class").set_value("")
    next(b for b in at.button if b.label == "Add box").click()
    at.run()
    assert len(_crops(ws, project)) == 2
    at.multiselect(key="crop_remove").select(int(crop["id"])).run()
    at.button(key="crop_remove_go").click().run()
    no_exception(at)
    left = _crops(ws, project)
    assert len(left) == 1 and int(crop["id"]) not in set(left["id"])
    gone = items_frame(ws, project.id, include_deleted=True)
    assert gone.set_index("id").loc[int(crop["id"]), "deleted_at"] is not None


def test_upload_an_image_as_plate(tmp_path):
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=1)
    image = np.random.default_rng(3).integers(0, 256, (120, 160, 3), dtype=np.uint8)
    data = cv2.imencode(".png", image)[1].tobytes()
    at = app(ws.root, "cut_crops")
    at.file_uploader(key="crop_upload").set_value(("钢板_7.png", data, "image/png"))
    at.run()
    at.button(key="crop_add_plate").click().run()
    no_exception(at)
    plates = items_frame(ws, project.id, role="plate")
    assert list(plates["source"]) == ["钢板_7.png"]
    assert (plates.iloc[0]["width"], plates.iloc[0]["height"]) == (160, 120)


def test_an_added_plate_is_the_one_shown(tmp_path):
    """Found by a verification pass: after adding a plate the picker still showed the first one."""
    ws, project, _ids = tiny_workspace(tmp_path / "ws", n_items=1, plate=True)
    data = cv2.imencode(".png", np.random.default_rng(4).integers(0, 256, (90, 130), dtype=np.uint8))[1].tobytes()
    at = app(ws.root, "cut_crops")
    at.file_uploader(key="crop_upload").set_value(("second.png", data, "image/png"))
    at.run()
    at.button(key="crop_add_plate").click().run()
    no_exception(at)
    plates = items_frame(ws, project.id, role="plate").set_index("source")
    assert at.selectbox(key="crop_plate").value == int(plates.loc["second.png", "id"])
